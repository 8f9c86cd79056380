import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/lib/server/config';
import { hasCronSecret } from '../../src/lib/server/cron-auth';

describe('loadConfig', () => {
	test('zero setup: embedded database in .data and an in-process worker', () => {
		const config = loadConfig({});
		expect(config.databaseUrl).toBeNull();
		expect(config.dataDir).toBe('.data');
		expect(config.worker).toMatchObject({ inProcess: true, budgetSeconds: 50, leaseSeconds: 30 });
	});

	test('a cron secret turns the in-process worker off unless asked for', () => {
		expect(loadConfig({ CRON_SECRET: 's'.repeat(20) }).worker.inProcess).toBe(false);
		expect(loadConfig({ CRON_SECRET: 's'.repeat(20), IN_PROCESS_WORKER: 'on' }).worker.inProcess).toBe(true);
	});

	test('reports every bad value at once', () => {
		const error = (() => {
			try {
				loadConfig({ DATABASE_URL: 'mysql://x', WORKER_CONCURRENCY: '0', CRON_SECRET: 'short', IN_PROCESS_WORKER: 'maybe' });
			} catch (e) {
				return e as ConfigError;
			}
		})();
		expect(error).toBeInstanceOf(ConfigError);
		expect(error!.problems).toHaveLength(4);
		expect(error!.message).toMatch(/WORKER_CONCURRENCY must be a whole number from 1 to 200, not "0"/);
	});
});

describe('hasCronSecret', () => {
	const secret = 'correct-horse-battery-staple';
	test.each([
		[`Bearer ${secret}`, true],
		[`bearer ${secret}`, true],
		[`Bearer ${secret} `, true],
		[`Bearer ${secret}!`, false],
		[secret, false],
		['Bearer ', false],
		[null, false]
	])('%s -> %s', (header, expected) => {
		expect(hasCronSecret(header, secret)).toBe(expected);
	});
	test('no configured secret accepts nothing', () => {
		expect(hasCronSecret('Bearer anything', null)).toBe(false);
	});
});
