import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '$lib/server/config';
import { hasCronSecret } from '$lib/server/http/cron-auth';
import { connectionUrl } from '$lib/server/db/client';
import { consoleEnvironment } from '$lib/server/console/environment';

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

describe('DATABASE_POOL_MODE', () => {
	const direct = 'postgres://postgres:secret@db.abcd.supabase.co:5432/postgres';
	const transactionPooler = 'postgres://postgres.abcd:secret@aws-0-eu-west-1.pooler.supabase.com:6543/postgres';

	test.each([
		[undefined, 'session'],
		[direct, 'session'],
		['postgres://postgres.abcd:secret@aws-0-eu-west-1.pooler.supabase.com:5432/postgres', 'session'],
		[transactionPooler, 'transaction'],
		[`${direct}?pgbouncer=true`, 'transaction'],
		[`${direct}?sslmode=require&pgbouncer=1`, 'transaction'],
		[`${direct}?pgbouncer=false`, 'session']
	])('detected from %s: %s', (url, mode) => {
		expect(loadConfig({ DATABASE_URL: url }).databasePoolMode).toBe(mode);
	});

	test('transaction mode turns LISTEN/NOTIFY off, even when asked for, and polls the queue every second', () => {
		const config = loadConfig({ DATABASE_URL: transactionPooler, DATABASE_NOTIFICATIONS: 'on' });
		expect(config).toMatchObject({ databasePoolMode: 'transaction', databaseNotifications: false });
		expect(config.worker.pollSeconds).toBe(1);
		expect(loadConfig({ DATABASE_URL: transactionPooler, WORKER_POLL_SECONDS: '3' }).worker.pollSeconds).toBe(3);
		expect(loadConfig({ DATABASE_URL: direct }).worker.shutdownSeconds).toBe(25);
		expect(loadConfig({ DATABASE_URL: direct, WORKER_SHUTDOWN_SECONDS: '0' }).worker.shutdownSeconds).toBe(0);
		expect(() => loadConfig({ DATABASE_URL: direct, WORKER_SHUTDOWN_SECONDS: 'soon' })).toThrow(/WORKER_SHUTDOWN_SECONDS/);
		expect(loadConfig({ DATABASE_URL: direct })).toMatchObject({ databaseNotifications: true, worker: { pollSeconds: 5 } });
	});

	test('an explicit setting wins over the detection, either way', () => {
		expect(loadConfig({ DATABASE_URL: transactionPooler, DATABASE_POOL_MODE: 'session' })).toMatchObject({
			databasePoolMode: 'session',
			databaseNotifications: true
		});
		expect(loadConfig({ DATABASE_URL: direct, DATABASE_POOL_MODE: 'Transaction' })).toMatchObject({
			databasePoolMode: 'transaction',
			databaseNotifications: false
		});
		expect(loadConfig({ DATABASE_URL: transactionPooler, DATABASE_POOL_MODE: 'auto' }).databasePoolMode).toBe('transaction');
	});

	test('an unknown mode is reported', () => {
		expect(() => loadConfig({ DATABASE_POOL_MODE: 'statement' })).toThrow(
			/DATABASE_POOL_MODE must be session, transaction or auto, not "statement"/
		);
	});

	test('the pgbouncer marker is taken off the URL before postgres.js sees it, and nothing else is', () => {
		expect(connectionUrl(`${direct}?pgbouncer=true`)).toBe(direct);
		expect(connectionUrl(`${transactionPooler}?sslmode=require&pgbouncer=true`)).toBe(`${transactionPooler}?sslmode=require`);
		expect(connectionUrl(`${direct}?sslmode=require`)).toBe(`${direct}?sslmode=require`);
		expect(connectionUrl('postgres://u:p%40ss@host:6543/db?pgbouncer=true')).toBe('postgres://u:p%40ss@host:6543/db');
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

describe('PICTURE_ENVIRONMENT', () => {
	test.each([
		[undefined, null, 'neutral', ''],
		['production', 'production', 'production', 'PRODUCTION · '],
		['eu-prod', 'eu-prod', 'production', 'EU-PROD · '],
		['Production EU', 'Production EU', 'production', 'PRODUCTION EU · '],
		['staging', 'staging', 'staging', ''],
		['pre-production', 'pre-production', 'staging', ''],
		['preprod', 'preprod', 'staging', ''],
		['development', 'development', 'neutral', ''],
		['productive-sandbox', 'productive-sandbox', 'neutral', ''],
		['  staging-2  ', 'staging-2', 'staging', '']
	])('%j: badge %j, tone %s', (value, name, tone, titlePrefix) => {
		const config = loadConfig({ PICTURE_ENVIRONMENT: value });
		expect(config.environment).toBe(name);
		expect(consoleEnvironment(config.environment)).toEqual({ name, tone, titlePrefix });
	});

	test.each(['x'.repeat(33), 'prod\u0000', 'prod\u200b', 'line\nbreak'])('%j is refused with a message', (value) => {
		expect(() => loadConfig({ PICTURE_ENVIRONMENT: value })).toThrow(/PICTURE_ENVIRONMENT must be at most 32 printable characters/);
	});

	test('the local model is free unless priced; a price is a plain non-negative number up to $100/s', () => {
		expect(loadConfig({}).localModel.pricePerSecondUsd).toBe(0);
		expect(loadConfig({ LOCAL_MODEL_PRICE_PER_SECOND_USD: '0.0002' }).localModel.pricePerSecondUsd).toBe(0.0002);
		for (const bad of ['-1', 'NaN', 'Infinity', '1e3', 'free', '0x10', '101', '1'.repeat(400)]) {
			expect(() => loadConfig({ LOCAL_MODEL_PRICE_PER_SECOND_USD: bad })).toThrow(/LOCAL_MODEL_PRICE_PER_SECOND_USD must be a price in dollars per second from 0 to 100/);
		}
	});
});
