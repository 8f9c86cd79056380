// Picture behind a transaction pooler (Supabase's Supavisor on port 6543, PgBouncer in transaction
// mode): a real PgBouncer with two server connections in front of the test database. No LISTEN, no
// named prepared statements, no pipelining, no session state: the app polls, and nothing errors or
// hangs (with postgres.js's default pipelining the queue test below hangs within seconds).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import type { GenerationRequest } from '$lib/schemas';
import { loadConfig } from '$lib/server/config';
import { createSql, type Sql } from '$lib/server/db/client';
import { migrate } from '$lib/server/db/migrate';
import { withUser } from '$lib/server/db/with-user';
import { startGeneration } from '$lib/server/generations/start';
import { enqueueJob } from '$lib/server/queue';
import { startServices, type Services } from '$lib/server/runtime';
import { ContinuousWorker } from '$lib/server/worker/continuous';
import { POST as start } from '$routes/api/generations/+server';
import { GET as events } from '$routes/api/generations/[id]/events/+server';
import { createTestDatabase, createUser, loadMigrations, type TestDatabase } from '../../support/db';
import { withDatabase } from '../../support/global-setup';
import { onEachServer, startPgBouncer, type PgBouncer } from '../../support/pgbouncer';
import { call, signedInUser } from '../../support/routes';
import { eventually } from '../../support/services';
import { collectSse } from '../../support/sse';

const TSX = path.resolve('node_modules/.bin/tsx');
/** What session features used through a transaction pooler fail with, sooner or later. */
const POOLER_ERRORS = /does not exist|already exists|UNSAFE_TRANSACTION|CONNECTION_|failed|PROBLEM/i;

let db: TestDatabase;
let bouncer: PgBouncer;
let poolerUrl: string;
let pooled: Sql;
const freshDatabase = `t_fresh_${randomBytes(5).toString('hex')}`;

beforeAll(async () => {
	db = await createTestDatabase();
	bouncer = await startPgBouncer(inject('pgAdminUrl'), { poolMode: 'transaction', poolSize: 2 });
	poolerUrl = bouncer.url(db.name);
	pooled = createSql(poolerUrl, { max: 6, transactionPooler: true });
});
afterAll(async () => {
	await pooled?.end({ timeout: 5 });
	await bouncer?.stop();
	const admin = createSql(inject('pgAdminUrl'), { max: 1 });
	await admin.unsafe(`drop database if exists ${freshDatabase} with (force)`).catch(() => {});
	await admin.end();
	await db?.drop();
});

/** The environment a CLI gets: this pooler's URL and nothing inherited that would change its mode. */
function cliEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, ...extra };
	for (const name of ['DATABASE_POOL_MODE', 'DATABASE_NOTIFICATIONS', 'WORKER_POLL_SECONDS', 'CRON_SECRET']) delete env[name];
	return env;
}

test('the pooler hands one client different server connections, as Supavisor does', async () => {
	expect((await onEachServer(poolerUrl, 2, async () => true)).size).toBe(2);
});

test('the configuration recognises the pooler and turns notifications off', () => {
	const config = loadConfig({ DATABASE_URL: poolerUrl, DATABASE_NOTIFICATIONS: 'on' });
	expect(config.databasePoolMode).toBe('transaction');
	expect(config.databaseNotifications).toBe(false);
	expect(config.worker.pollSeconds).toBe(1);
	// The same server reached directly is a session connection, with LISTEN.
	expect(loadConfig({ DATABASE_URL: db.url })).toMatchObject({ databasePoolMode: 'session', databaseNotifications: true });
	expect(loadConfig({ DATABASE_URL: db.url, DATABASE_POOL_MODE: 'transaction' }).databaseNotifications).toBe(false);
});

test('LISTEN through the pooler succeeds but never hears a NOTIFY, so it cannot be what delivers progress', async () => {
	const channel = 'pooler_probe';
	const direct = createSql(db.url, { max: 1 });
	const throughPooler = createSql(poolerUrl, { max: 1, transactionPooler: true });
	const heardDirectly: string[] = [];
	const heardThroughPooler: string[] = [];
	const dropped = () => bouncer.output().split("got packet 'A' from server when not linked").length - 1;
	try {
		await direct.listen(channel, (payload) => heardDirectly.push(payload));
		// No error: a client cannot tell that its LISTEN is useless, which is why the config decides.
		await throughPooler.listen(channel, (payload) => heardThroughPooler.push(payload));
		const droppedBefore = dropped();
		for (let i = 1; i <= 5; i++) await db.sql`select pg_notify(${channel}, ${String(i)})`;
		await eventually(async () => heardDirectly.length === 5);
		// PgBouncer received each notification on the server connection that ran LISTEN, then dropped it.
		await eventually(async () => dropped() - droppedBefore >= 5);
		expect(heardDirectly).toEqual(['1', '2', '3', '4', '5']);
		expect(heardThroughPooler).toEqual([]);
	} finally {
		await direct.end();
		await throughPooler.end();
	}
});

test('migrations apply through the pooler (the migration CLI), and again change nothing', async () => {
	const admin = createSql(inject('pgAdminUrl'), { max: 1 });
	await admin.unsafe(`create database ${freshDatabase}`);
	await admin.end();
	const url = bouncer.url(freshDatabase);
	const run = promisify(execFile);
	const first = await run(TSX, ['scripts/migrate.ts'], { env: cliEnv(url) });
	const migrations = await loadMigrations();
	expect(first.stdout).toContain(`applied ${migrations.length} migration(s)`);
	expect(first.stdout).toContain('transaction pool mode');
	expect(first.stdout).toContain(`${migrations.length} of ${migrations.length} applied`);
	expect(first.stdout + first.stderr).not.toMatch(POOLER_ERRORS);

	const status = await run(TSX, ['scripts/migrate.ts', '--status'], { env: cliEnv(url) });
	expect(status.stdout).toContain(`${migrations.length} of ${migrations.length} applied`);
	// And in-process, through the pooler, on the database the tests cloned.
	expect(await migrate(pooled, migrations)).toEqual([]);
	const direct = createSql(withDatabase(inject('pgAdminUrl'), freshDatabase), { max: 1 });
	const [recorded] = await direct<{ count: number }[]>`select count(*)::int as count from app_private.schema_migrations`;
	await direct.end();
	expect(recorded!.count).toBe(migrations.length);
});

test('the queue through the pooler: two polling workers run every job exactly once', async () => {
	const config = loadConfig({ DATABASE_URL: poolerUrl });
	const runs = new Map<string, number>();
	const logs: string[] = [];
	const workerSql = createSql(poolerUrl, { max: 6, transactionPooler: config.databasePoolMode === 'transaction' });
	const workers = [1, 2].map(
		() =>
			new ContinuousWorker({
				sql: workerSql,
				concurrency: 4,
				batchSize: 3,
				leaseSeconds: 30,
				pollMs: config.worker.pollSeconds * 1000,
				listen: config.databaseNotifications,
				log: (message) => logs.push(message),
				handlers: {
					count: async (job, { sql }) => {
						runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
						await sql`select pg_backend_pid()`; // a query of its own, on whichever server connection
					}
				}
			})
	);
	const ids: string[] = [];
	for (let i = 0; i < 60; i++) ids.push(await enqueueJob(pooled, 'count', { payload: { i } }));
	await Promise.all(workers.map((worker) => worker.start()));
	try {
		// More while they run: without LISTEN only their polls can find these.
		const more = await Promise.all(Array.from({ length: 90 }, (_, i) => enqueueJob(pooled, 'count', { payload: { i: 60 + i } })));
		ids.push(...more);
		await eventually(async () => {
			const [row] = await db.sql<{ done: number }[]>`
				select count(*)::int as done from job_queue where job_type = 'count' and status = 'completed'`;
			return row!.done === ids.length;
		}, 30_000);
	} finally {
		await Promise.all(workers.map((worker) => worker.stop(5_000)));
		await workerSql.end();
	}
	expect(runs.size).toBe(ids.length);
	expect([...runs.values()].every((count) => count === 1)).toBe(true);
	const rows = await db.sql`select attempts, error_message from job_queue where job_type = 'count'`;
	expect(rows.filter((row) => row.attempts !== 1 || row.error_message !== null)).toEqual([]);
	expect(logs.filter((line) => POOLER_ERRORS.test(line))).toEqual([]);
	const [totals] = await db.sql<{ processed: number }[]>`
		select sum(processed)::int as processed from worker_runs where worker_id in ${db.sql(workers.map((w) => w.workerId))}`;
	expect(totals!.processed).toBe(ids.length);
});

test('transactions keep their server connection and leave no session state behind', async () => {
	const users = await Promise.all([1, 2, 3].map(() => createUser(pooled)));
	// Many at once on two server connections: each must see its own claims, set with set_config(..., true).
	const seen = await Promise.all(
		Array.from({ length: 12 }, (_, i) =>
			withUser(pooled, users[i % 3]!.claims, async (tx) => {
				await tx`select pg_sleep(0.01)`;
				const [row] = await tx<{ uid: string; role: string }[]>`select auth.uid()::text as uid, current_user as role`;
				return row;
			})
		)
	);
	expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => ({ uid: users[i % 3]!.id, role: 'authenticated' })));
	await expect(pooled.begin(async (tx) => tx`select 1 / 0`)).rejects.toThrow(/division by zero/);
	// Outside those transactions every server connection is back to the pool's own role, with no claims.
	const states = await onEachServer(poolerUrl, 2, async (tx) => {
		const [row] = await tx<{ state: string }[]>`
			select current_user || ' ' || coalesce(current_setting('request.jwt.claims', true), '') as state`;
		return row!.state.trim();
	});
	const login = decodeURIComponent(new URL(inject('pgAdminUrl')).username) || 'postgres';
	expect([...states.values()]).toEqual([login, login]);
});

test('a cursor outside a transaction (the CSV export) streams whole through the pooler', async () => {
	let total = 0;
	const busy = Promise.all(Array.from({ length: 20 }, () => pooled`select pg_sleep(0.005)`));
	for await (const rows of pooled<{ g: number }[]>`select g from generate_series(1, 1200) g`.cursor(250)) total += rows.length;
	await busy;
	expect(total).toBe(1200);
});

test('generations through the pooler: the in-process worker runs them and SSE streams progress by polling', async () => {
	const logs: string[] = [];
	const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-pooler-'));
	const config = loadConfig({ DATABASE_URL: poolerUrl, DATA_DIR: dataDir, IN_PROCESS_WORKER: 'on', LOCAL_MODEL_MS_PER_IMAGE: '3000' });
	let services: Services | null = null;
	try {
		services = await startServices(config, { log: (message) => logs.push(message) });
		expect(services.migrationError).toBeNull();
		expect(services.worker.inProcess).not.toBeNull();
		const alice = await signedInUser(services);
		const ids: string[] = [];
		for (const prompt of ['a lighthouse at dusk', 'a fox in snow', 'a paper boat']) {
			const response = await call(start, services, {
				method: 'POST',
				body: { prompt, model_id: 'local/preview', width: 512, height: 384 },
				user: alice.user
			});
			expect(response.status).toBe(201);
			ids.push((await response.json()).generation_id);
		}
		const streams = await Promise.all(
			ids.map(async (id) => collectSse(await call(events, services!, { params: { id }, user: alice.user })))
		);
		for (const stream of streams) {
			const updates = stream.filter((event) => event.event === 'generation').map((event) => ({ ...JSON.parse(event.data), seq: Number(event.id) }));
			expect(updates.at(-1)).toMatchObject({ status: 'completed', progress: 100 });
			// Progress between queued and completed, in order, each state once.
			expect(updates.some((u) => u.status === 'processing' && u.progress > 0 && u.progress < 100)).toBe(true);
			const seqs = updates.map((u) => u.seq);
			expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
		}
		const notices = logs.filter((line) => line.includes('transaction pool mode'));
		expect(notices).toHaveLength(1);
		expect(logs.filter((line) => POOLER_ERRORS.test(line) || /LISTEN unavailable/.test(line))).toEqual([]);
	} finally {
		await services?.close();
		await rm(dataDir, { recursive: true, force: true });
	}
});

test('the worker CLI through the pooler polls, completes generations and stops cleanly', async () => {
	const user = await createUser(pooled);
	const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-pooler-cli-'));
	const child = spawn(TSX, ['scripts/worker.ts'], {
		env: cliEnv(poolerUrl, { DATA_DIR: dataDir, LOCAL_MODEL_MS_PER_IMAGE: '0', WORKER_CONCURRENCY: '3' }),
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	child.stdout.on('data', (chunk) => (output += chunk));
	child.stderr.on('data', (chunk) => (output += chunk));
	const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
	try {
		await eventually(async () => output.includes('Ctrl-C to stop'), 30_000);
		const started = [];
		for (let i = 0; i < 6; i++) {
			const request: GenerationRequest = {
				...{ prompt: `a kite number ${i}`, model_id: 'local/preview', width: 256, height: 256 },
				...{ seed: i, negative_prompt: null, idempotency_key: null }
			};
			started.push(await startGeneration(pooled, user.id, request, { replicateConfigured: false }));
		}
		const ids = started.map((s) => s.generation_id);
		await eventually(async () => {
			const rows = await db.sql`select status from image_generations where id in ${db.sql(ids)}`;
			return rows.every((row) => row.status === 'completed');
		}, 30_000);
	} finally {
		child.kill('SIGTERM');
	}
	expect(await exited).toBe(0);
	await rm(dataDir, { recursive: true, force: true });
	expect(output).toContain('transaction pool mode');
	expect(output).toContain('polls every 1 s');
	expect(output).toMatch(/stopped after 6 job\(s\), 0 error\(s\)/);
	expect(output).not.toMatch(POOLER_ERRORS);
	expect(output).not.toContain('LISTEN unavailable');
});

test('nothing left a named prepared statement on the server connections (and the check can see one)', async () => {
	const statementsPerServer = () =>
		onEachServer(poolerUrl, 2, async (tx) => (await tx<{ n: number }[]>`select count(*)::int as n from pg_prepared_statements`)[0]!.n);
	expect([...(await statementsPerServer()).values()]).toEqual([0, 0]);
	// The same check after a client with postgres.js's default (named statements) used the pooler.
	const named = createSql(poolerUrl, { max: 1, prepare: true });
	for (let i = 0; i < 4; i++) await named`select ${i}::int as n`;
	await named.end();
	expect([...(await statementsPerServer()).values()].some((count) => count > 0)).toBe(true);
});
