// Scale-out: how far one Postgres carries Picture when processes are added (docs/scaling.md).
//   apps_N     N built apps (adapter-node, own ports, no in-process worker); the load generator
//              spreads its clients over them: SSE delivery with 400 streams, then POST
//              /api/generations throughput and p99 with 64 keep-alive clients
//   workers_M  one app and M `npm run worker` processes (4 jobs at a time each, the local model at
//              256x256 with no artificial delay): pickup latency of one job at a time into idle
//              workers, then generations completed per second from a backlog
// Every phase reports the connections per process (pg_stat_activity, by application_name), what
// active backends waited on, and the CPU (cores) of the apps, the workers, Postgres, the load
// generator and everything else on the machine. 3.5-4 minutes (1-2 with BENCH_QUICK=1), so it is
// not in the default `npm run bench` set: `npm run bench -- scale-out`.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SessionStore } from '../src/lib/server/auth/session';
import { pauseJobType, resumeJobType } from '../src/lib/server/queue';
import { GENERATE_IMAGE } from '../src/lib/server/worker/jobs';
import { httpLoad } from './http-load';
import { cpuMeter, findPostmaster, sampleActivity } from './scale-out-probe';
import { startApp, startMany, startWorker, stopAll, type Child } from './scale-out-fleet';
import { sseRounds } from './scale-out-sse';
import { startRuns } from './sse-fanout';
import { builtApp, emit, insertUnlimitedUsers, log, percentile, probeFsync, QUICK, round, sleep, type BenchDatabase, type BenchServer, type Measurement } from './support';

const SECRET = 'bench-session-secret-that-is-long-enough-1234567890';
const COUNTS = [1, 2, 4];
const CLIENTS = 64;
const SUBSCRIBERS = QUICK ? 200 : 400;
const SSE_ROUNDS = QUICK ? 5 : 20;
const POST_WARMUP_SECONDS = QUICK ? 1 : 3;
const POST_SECONDS = QUICK ? 3 : 10;
const PICKUP_SAMPLES = QUICK ? 20 : 100;
const CLAIM_SECONDS = QUICK ? 4 : 10;
/** More than the workers can finish in the window, so the queue never runs dry while it is timed. */
const BACKLOG = QUICK ? 2_000 : 6_000;
const SIZE = 256;

const names = [
	...COUNTS.flatMap((n) => [`apps_${n}.post.req_per_s`, `apps_${n}.post.p99_ms`, `apps_${n}.sse.p50_ms`, `apps_${n}.sse.p99_ms`]),
	...COUNTS.flatMap((m) => [`workers_${m}.claim.jobs_per_s`, `workers_${m}.pickup.p50_ms`, `workers_${m}.pickup.p99_ms`])
].map((name) => `scale-out.${name}`);

interface Context {
	server: BenchServer;
	buildDir: string;
	dataDir: string;
	postmaster: number | null;
	/** The disk's flush time when the run began: every synchronous commit waits for at least one. */
	fsyncP50Ms: number;
	/** Markdown table rows for the summary logged at the end (docs/scaling.md's tables). */
	appRows: string[];
	workerRows: string[];
}

type Activity = Awaited<ReturnType<typeof probed>>['db_activity'];
type Cores = Awaited<ReturnType<typeof probed>>['cpu_cores'];
const topWaits = (a: Activity) => Object.entries(a.wait_events_pct).slice(0, 3).map(([event, pct]) => `${event} ${Math.round(pct)}%`).join(', ');
const cores = (c: Cores, group: string) => `${c[group]} / ${c.postgres} / ${c.machine_busy}`;

function childEnv(ctx: Context, db: BenchDatabase): Record<string, string> {
	return {
		DATABASE_URL: db.url,
		SESSION_SECRET: SECRET,
		DATA_DIR: ctx.dataDir,
		IMAGE_DIR: path.join(ctx.dataDir, 'images'),
		LOCAL_MODEL_MS_PER_IMAGE: '0',
		WORKER_CONCURRENCY: '4',
		NODE_ENV: 'production'
	};
}

/** A fresh database with users whose limits are out of the way, and the model's concurrency too. */
async function prepare(ctx: Context, label: string, users: number) {
	const db = await ctx.server.freshDatabase(label, { max: 12 });
	const rows = await insertUnlimitedUsers(db.sql, users, label.replace(/\W/g, ''));
	await db.sql`update models set max_concurrency = 1000 where id = 'local/preview'`;
	const sessions = new SessionStore(db.sql, SECRET);
	const tokens = await Promise.all(rows.map((u) => sessions.start(u)));
	return { db, users: rows, tokens };
}

/** Runs work with the CPU meter and the pg_stat_activity sampler around it. */
async function probed<T>(ctx: Context, db: BenchDatabase, processes: Record<string, Child[]>, work: () => Promise<T>) {
	const probeSql = db.connect(1);
	const activity = sampleActivity(probeSql, db.name);
	const cpu = cpuMeter(Object.fromEntries(Object.entries(processes).map(([k, cs]) => [k, cs.map((c) => c.pid)])), ctx.postmaster);
	try {
		const result = await work();
		const cores = cpu.stop();
		return { result, cpu_cores: cores, db_activity: await activity.stop() };
	} catch (error) {
		await activity.stop().catch(() => {});
		throw error;
	}
}

const post = (token: string, client: number, n: number) => ({
	method: 'POST' as const,
	path: '/api/generations',
	headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
	body: JSON.stringify({ prompt: `scale ${client} ${n}`, model_id: 'local/preview', width: SIZE, height: SIZE })
});

async function appsCase(ctx: Context, n: number): Promise<void> {
	const { db, tokens } = await prepare(ctx, `scale_apps_${n}`, Math.max(SUBSCRIBERS, CLIENTS));
	const apps = await startMany(n, (i) => startApp(ctx.buildDir, i, childEnv(ctx, db)));
	try {
		const origins = apps.map((a) => a.origin);
		const common = { apps: n, fsync_p50_ms: ctx.fsyncP50Ms, settings: ctx.server.settings };
		// SSE first, on an empty queue (startRuns claims what it just created).
		const runs = await startRuns(origins[0]!, db.sql, tokens.slice(0, SUBSCRIBERS));
		// The probes watch the rounds only, not the streams connecting.
		let probe: Pick<Awaited<ReturnType<typeof probed>>, 'cpu_cores' | 'db_activity'> | null = null;
		const sse = await sseRounds(origins, db.sql, runs, tokens, SSE_ROUNDS, async (rounds) => {
			const { cpu_cores, db_activity } = await probed(ctx, db, { apps }, rounds);
			probe = { cpu_cores, db_activity };
		});
		const sseDetails = { ...common, ...sse, ...probe!, path: 'record_generation_progress commit -> NOTIFY -> every app LISTENs -> SSE -> client' };
		emit({ name: `scale-out.apps_${n}.sse.p50_ms`, value: sse.p50_ms, unit: 'ms', ...sseDetails });
		emit({ name: `scale-out.apps_${n}.sse.p99_ms`, value: sse.p99_ms, unit: 'ms', ...sseDetails });

		const request = (client: number, k: number) => post(tokens[client % tokens.length]!, client, k);
		await httpLoad(origins, { clients: CLIENTS, seconds: POST_WARMUP_SECONDS, status: 201, request });
		const { result: load, cpu_cores, db_activity } = await probed(ctx, db, { apps }, () =>
			httpLoad(origins, { clients: CLIENTS, seconds: POST_SECONDS, status: 201, request })
		);
		const details = {
			...common,
			clients: CLIENTS,
			requests: load.requests,
			failed: load.failed,
			...(load.failed ? { failures: load.failures } : {}),
			seconds: load.seconds,
			p50_ms: round(load.p50Ms),
			p99_ms: round(load.p99Ms),
			cpu_cores,
			db_activity
		};
		emit({ name: `scale-out.apps_${n}.post.req_per_s`, value: round(load.requestsPerSecond, 0), unit: 'req/s', ...details });
		emit({ name: `scale-out.apps_${n}.post.p99_ms`, value: round(load.p99Ms), unit: 'ms', ...details });
		ctx.appRows.push(
			`| ${n} | ${round(load.requestsPerSecond, 0)} | ${details.p50_ms} / ${details.p99_ms} | ${cores(cpu_cores, 'apps')} | ${topWaits(db_activity)} | ` +
				`${sse.writes_per_s} | ${sse.p50_ms} / ${sse.p99_ms} | ${cores(probe!.cpu_cores, 'apps')} | ${topWaits(probe!.db_activity)} | ${db_activity.connections_max} |`
		);
	} finally {
		await stopAll(apps);
		await db.drop();
	}
}

/** One job at a time through the app into idle workers: enqueue (its transaction's start) to claim, as the database timed them. */
async function pickupSamples(origin: string, db: BenchDatabase, token: string): Promise<number[]> {
	const delays: number[] = [];
	const deadline = performance.now() + (QUICK ? 15_000 : 40_000);
	for (let i = 0; i < PICKUP_SAMPLES + 5 && performance.now() < deadline; i++) {
		const { headers, body } = post(token, 0, i);
		const response = await fetch(`${origin}/api/generations`, { method: 'POST', headers, body });
		const { job_id } = (await response.json()) as { job_id?: string };
		if (response.status !== 201 || !job_id) throw new Error(`pickup: POST /api/generations answered ${response.status}`);
		for (let polls = 0; ; polls++) {
			const [job] = await db.sql<{ ms: number | null; status: string }[]>`
				select extract(epoch from started_at - created_at) * 1000 as ms, status from job_queue where id = ${job_id}`;
			// Finished too: the next sample then finds every worker idle again.
			if (job?.ms != null && ['completed', 'failed'].includes(job.status)) {
				if (i >= 5) delays.push(job.ms); // the first few warm the workers up
				break;
			}
			if (polls > 2_000) throw new Error(`pickup: job ${job_id} was not done within 10 s`);
			await sleep(5);
		}
		await sleep(2 + Math.random() * 6);
	}
	return delays.sort((a, b) => a - b);
}

async function workersCase(ctx: Context, m: number): Promise<void> {
	const { db, users, tokens } = await prepare(ctx, `scale_workers_${m}`, 8);
	const env = childEnv(ctx, db);
	const apps = await startMany(1, (i) => startApp(ctx.buildDir, i, env));
	let workers: Child[] = [];
	try {
		workers = await startMany(m, (i) => startWorker(i, env));
		const common = { workers: m, concurrency_per_worker: 4, fsync_p50_ms: ctx.fsyncP50Ms, image: `${SIZE}x${SIZE} local/preview, LOCAL_MODEL_MS_PER_IMAGE=0`, settings: ctx.server.settings };
		const pickup = await probed(ctx, db, { apps, workers }, () => pickupSamples(apps[0]!.origin, db, tokens[0]!));
		const pickupDetails = {
			...common,
			samples: pickup.result.length,
			p50_ms: round(percentile(pickup.result, 50), 2),
			p99_ms: round(percentile(pickup.result, 99), 2),
			measured: 'job_queue.started_at - created_at (start_generation transaction start to the claim), one job at a time',
			cpu_cores: pickup.cpu_cores,
			db_activity: pickup.db_activity
		};
		emit({ name: `scale-out.workers_${m}.pickup.p50_ms`, value: pickupDetails.p50_ms, unit: 'ms', ...pickupDetails });
		emit({ name: `scale-out.workers_${m}.pickup.p99_ms`, value: pickupDetails.p99_ms, unit: 'ms', ...pickupDetails });

		// The backlog goes in while the type is paused; resuming wakes every worker at once.
		await pauseJobType(db.sql, GENERATE_IMAGE);
		await db.sql`
			select public.start_generation((${users.map((u) => u.id)}::uuid[])[1 + g % ${users.length}], 'scale backlog ' || g,
			       'local/preview', ${SIZE}, ${SIZE}, g, null, null, '{}'::jsonb, true, array['local'])
			from generate_series(1, ${BACKLOG}::int) g`;
		const claim = await probed(ctx, db, { apps, workers }, async () => {
			const [{ t0 }] = (await db.sql`select clock_timestamp() as t0`) as unknown as [{ t0: Date }];
			await resumeJobType(db.sql, GENERATE_IMAGE);
			await sleep(CLAIM_SECONDS * 1000);
			const [row] = await db.sql<{ done: number; claimed: number; pending: number; seconds: number }[]>`
				select count(*) filter (where status = 'completed' and completed_at >= ${t0})::int as done,
				       count(*) filter (where started_at >= ${t0})::int as claimed,
				       count(*) filter (where status = 'pending')::int as pending,
				       extract(epoch from clock_timestamp() - ${t0}::timestamptz)::float8 as seconds
				from job_queue where job_type = ${GENERATE_IMAGE}`;
			return row!;
		});
		await pauseJobType(db.sql, GENERATE_IMAGE); // the workers stop taking more while they are stopped
		const { done, claimed, pending, seconds } = claim.result;
		ctx.workerRows.push(
			`| ${m} | ${round(done / seconds, 0)} | ${cores(claim.cpu_cores, 'workers')} | ${topWaits(claim.db_activity)} | ` +
				`${pickupDetails.p50_ms} / ${pickupDetails.p99_ms} | ${claim.db_activity.connections_max} |`
		);
		if (pending === 0) log(`scale-out.workers_${m}: the backlog of ${BACKLOG} ran dry; the rate is a lower bound`);
		emit({
			name: `scale-out.workers_${m}.claim.jobs_per_s`,
			value: round(done / seconds, 0),
			unit: 'jobs/s',
			...common,
			completed: done,
			claimed,
			backlog: BACKLOG,
			backlog_left: pending,
			seconds: round(seconds, 2),
			measured: 'generations completed per second from a backlog (claim, render, store, complete), all workers woken at once',
			cpu_cores: claim.cpu_cores,
			db_activity: claim.db_activity
		});
	} finally {
		await stopAll([...workers, ...apps]);
		await db.drop();
	}
}

export const scaleOut: Measurement = {
	names,
	explicitOnly: true,
	async run(server) {
		const buildDir = builtApp('scale-out');
		if (!buildDir) return;
		const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-scale-out-'));
		// A signal ends the run with process.exit, past the finally below: the images go in any case.
		const removeDataDir = () => rmSync(dataDir, { recursive: true, force: true });
		process.once('exit', removeDataDir);
		try {
			const postmaster = await server.freshDatabase('scale_probe', { max: 1 }).then(async (db) => {
				const pid = await findPostmaster(db.sql);
				await db.drop();
				return pid;
			});
			if (postmaster === null) log('scale-out: the server is not on this machine; Postgres CPU is not measured');
			const fsyncP50Ms = round(percentile(probeFsync(server.diskDir, 50), 50), 3);
			const ctx: Context = { server, buildDir, dataDir, postmaster, fsyncP50Ms, appRows: [], workerRows: [] };
			for (const n of COUNTS) await appsCase(ctx, n);
			for (const m of COUNTS) await workersCase(ctx, m);
			log(
				[
					`scale-out summary (fsync p50 ${fsyncP50Ms} ms; cores are apps or workers / Postgres / whole machine):`,
					'| apps | POST req/s | POST p50 / p99 ms | cores (POST) | waits (POST) | progress writes/s | SSE p50 / p99 ms | cores (SSE) | waits (SSE) | connections |',
					'| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
					...ctx.appRows,
					'',
					'| workers | jobs/s | cores | waits | pickup p50 / p99 ms | connections |',
					'| --- | --- | --- | --- | --- | --- |',
					...ctx.workerRows
				].join('\n')
			);
		} finally {
			await rm(dataDir, { recursive: true, force: true });
			process.removeListener('exit', removeDataDir);
		}
	}
};
