// Services as the app assembles them, but on a test database and with handlers the test chooses.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Env } from '../../src/lib/server/config';
import { createServices, type Services } from '../../src/lib/server/services';
import { createProviders } from '../../src/lib/server/providers';
import { createStorage } from '../../src/lib/server/storage';
import { createJobHandlers } from '../../src/lib/server/worker/jobs';
import type { JobHandlers } from '../../src/lib/server/worker/types';
import type { TestDatabase } from './db';
import { loadMigrations } from './db';

export const TEST_SESSION_SECRET = 'test-session-secret-that-is-long-enough-0123456789';

/**
 * The app's services (createServices, as the app builds them) on a test database, with no worker in
 * process. handlers: the job handlers a test wants, or 'app' for the app's own (generate-image).
 */
export async function testServices(
	db: Pick<TestDatabase, 'sql' | 'url'>,
	handlers: JobHandlers | 'app' = {},
	env: Env = {},
	options: { progressIntervalMs?: number } = {}
): Promise<Services> {
	const dataDir = env.DATA_DIR ?? (await mkdtemp(path.join(tmpdir(), 'picture-services-')));
	const config = loadConfig({ IN_PROCESS_WORKER: 'off', LOCAL_MODEL_MS_PER_IMAGE: '0', DATA_DIR: dataDir, ...env });
	const providers = createProviders(config);
	const storage = createStorage(config);
	return createServices(config, {
		sql: db.sql,
		databaseUrl: db.url,
		migrations: await loadMigrations(),
		sessionSecret: TEST_SESSION_SECRET,
		providers,
		storage,
		handlers: handlers === 'app' ? createJobHandlers({ providers, storage, progressIntervalMs: options.progressIntervalMs ?? 0 }) : handlers
	});
}

/** A promise with its resolve handle, for handlers a test releases when it is ready. */
export function deferred<T = void>() {
	let resolve!: (value: T) => void;
	let reject!: (error: unknown) => void;
	const promise = new Promise<T>((res, rej) => {
		resolve = res;
		reject = rej;
	});
	return { promise, resolve, reject };
}

/** Polls a condition against the database until it holds (bounded), for state another process changes. */
export async function eventually<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await check();
		if (value) return value;
		if (Date.now() > deadline) throw new Error('condition not met in time');
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}
