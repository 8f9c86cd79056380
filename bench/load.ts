// Load: 200 users, arriving over 10 s, each submitting a generation to the built app and watching its
// progress over SSE until it finishes, then the next, for 2 minutes (20 s with BENCH_QUICK). Reports the enqueue
// latency, every answer of 500 or more, and whether the app gave back what the run took: its heap
// and resident memory, its open SSE subscriptions and its database connections, each measured idle
// after a warm-up and again idle after the run.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SessionStore } from '../src/lib/server/auth/session';
import { freePort } from '../src/lib/server/db/embedded';
import type { Sql } from '../src/lib/server/db/client';
import { builtApp, emit, insertUnlimitedUsers, log, percentile, QUICK, round, sleep, type Measurement } from './support';

const SECRET = 'bench-session-secret-that-is-long-enough-1234567890';
const METRICS_TOKEN = 'bench-metrics-token-long-enough';
const USERS = 200;
const WARMUP_SECONDS = QUICK ? 8 : 20;
/** Users arrive over this long, not all in one instant (a burst of 200 at once is its own test). */
const RAMP_SECONDS = QUICK ? 4 : 10;
const RUN_SECONDS = QUICK ? 20 : 120;
/** A user gives up watching after this long and counts the generation as stalled. */
const WATCH_TIMEOUT_MS = 120_000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

interface Tally {
	enqueueMs: number[];
	/** When (seconds into the phase) each enqueue slower than a second started: bursts or a steady tail? */
	slowEnqueueAt: number[];
	completionMs: number[];
	events: number;
	completed: number;
	failed: number;
	stalled: number;
	serverErrors: number;
	clientErrors: number;
	networkErrors: number;
	serverErrorSamples: string[];
}

const newTally = (): Tally => ({
	enqueueMs: [], slowEnqueueAt: [], completionMs: [], events: 0, completed: 0, failed: 0, stalled: 0,
	serverErrors: 0, clientErrors: 0, networkErrors: 0, serverErrorSamples: []
});

/** Reads an SSE stream until the generation reaches a final status; returns that status. */
async function watch(response: Response, tally: Tally): Promise<string | null> {
	const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
	let buffer = '';
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (done) return null;
			buffer += value;
			let end: number;
			while ((end = buffer.indexOf('\n\n')) >= 0) {
				const block = buffer.slice(0, end);
				buffer = buffer.slice(end + 2);
				const data = block.split('\n').find((line) => line.startsWith('data: '));
				if (!data) continue;
				tally.events++;
				const status = (JSON.parse(data.slice(6)) as { status: string }).status;
				if (TERMINAL.has(status)) return status;
			}
		}
	} finally {
		await reader.cancel().catch(() => {});
	}
}

function recordStatus(tally: Tally, response: Response, what: string): void {
	if (response.status >= 500) {
		tally.serverErrors++;
		if (tally.serverErrorSamples.length < 5) tally.serverErrorSamples.push(`${what} ${response.status}`);
	} else if (response.status >= 400) tally.clientErrors++;
}

/** One user: submit, watch to the end, repeat until the deadline. */
async function user(origin: string, token: string, index: number, deadline: number, tally: Tally, phaseStart: number): Promise<void> {
	const auth = { authorization: `Bearer ${token}` };
	await sleep(((index % USERS) * RAMP_SECONDS * 1000) / USERS);
	for (let n = 0; performance.now() < deadline; n++) {
		try {
			const t0 = performance.now();
			const created = await fetch(`${origin}/api/generations`, {
				method: 'POST',
				headers: { ...auth, 'content-type': 'application/json' },
				body: JSON.stringify({ prompt: `load ${index} ${n}: a lighthouse at dusk`, model_id: 'local/preview', width: 512, height: 512 })
			});
			const body = (await created.json().catch(() => ({}))) as { generation_id?: string };
			recordStatus(tally, created, 'POST /api/generations');
			if (created.status !== 201 || !body.generation_id) continue;
			tally.enqueueMs.push(performance.now() - t0);
			if (performance.now() - t0 > 1000) tally.slowEnqueueAt.push(round((t0 - phaseStart) / 1000, 1));

			const stream = await fetch(`${origin}/api/generations/${body.generation_id}/events`, {
				headers: auth,
				signal: AbortSignal.timeout(WATCH_TIMEOUT_MS)
			});
			recordStatus(tally, stream, 'GET events');
			if (!stream.ok) continue;
			const final = await watch(stream, tally).catch(() => null);
			if (final === 'completed') {
				tally.completed++;
				tally.completionMs.push(performance.now() - t0);
			} else if (final) tally.failed++;
			else tally.stalled++;
		} catch {
			tally.networkErrors++;
		}
	}
}

interface Idle {
	heapBytes: number;
	residentBytes: number;
	subscribers: number;
	connections: number;
}

async function scrape(origin: string): Promise<Record<string, number>> {
	const text = await (await fetch(`${origin}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
	const values: Record<string, number> = {};
	for (const line of text.split('\n')) {
		const match = /^(\w+) (\S+)$/.exec(line);
		if (match) values[match[1]!] = Number(match[2]);
	}
	return values;
}

/**
 * Waits until the app is idle (no open streams, nothing queued or running), then takes the lowest
 * heap over a few seconds: the app runs with a collection every second, so the minimum is the live set.
 */
async function measureIdle(origin: string, sql: Sql, database: string): Promise<Idle> {
	const until = performance.now() + 180_000;
	for (;;) {
		const [row] = await sql<{ busy: number }[]>`
			select count(*)::int as busy from public.job_queue where status in ('pending', 'processing')`;
		const busy = row!.busy;
		const values = await scrape(origin);
		if (busy === 0 && values.picture_sse_subscribers === 0) break;
		if (performance.now() > until) throw new Error(`the app did not settle: ${busy} jobs busy, ${values.picture_sse_subscribers} subscribers`);
		await sleep(500);
	}
	let heapBytes = Infinity;
	let residentBytes = Infinity;
	let subscribers = 0;
	for (let i = 0; i < 6; i++) {
		const values = await scrape(origin);
		heapBytes = Math.min(heapBytes, values.nodejs_heap_size_used_bytes!);
		residentBytes = Math.min(residentBytes, values.process_resident_memory_bytes!);
		subscribers = values.picture_sse_subscribers!;
		await sleep(1000);
	}
	const [row] = await sql<{ connections: number }[]>`
		select count(*)::int as connections from pg_stat_activity
		where datname = ${database} and application_name <> 'picture-bench'`;
	return { heapBytes, residentBytes, subscribers, connections: row!.connections };
}

const appEnv = (port: number, databaseUrl: string) => ({
	...process.env,
	PORT: String(port), HOST: '127.0.0.1', ORIGIN: `http://127.0.0.1:${port}`,
	DATABASE_URL: databaseUrl, SESSION_SECRET: SECRET, METRICS_TOKEN,
	WORKER_CONCURRENCY: '8', LOCAL_MODEL_MS_PER_IMAGE: '1000',
	DATA_DIR: path.resolve('.data/bench-load'), IMAGE_DIR: path.resolve('.data/bench-load/images')
});

/**
 * The web app alone: the local model draws its pixels in JavaScript, so a worker inside the app
 * would share the event loop with the requests being measured. Production runs workers apart
 * (cron calls or `npm run worker`), and so does this benchmark.
 */
function startApp(buildDir: string, port: number, databaseUrl: string): ChildProcess {
	// --expose-gc and a collection every second make "memory after" mean live memory, not garbage
	// the collector has not got round to.
	const entry = path.resolve(buildDir, 'index.js');
	const boot = `setInterval(() => globalThis.gc(), 1000).unref(); await import(${JSON.stringify(entry)});`;
	return spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', boot], {
		env: { ...appEnv(port, databaseUrl), IN_PROCESS_WORKER: 'off' },
		stdio: ['ignore', 'ignore', 'pipe']
	});
}

function startWorker(port: number, databaseUrl: string): ChildProcess {
	return spawn(path.resolve('node_modules/.bin/tsx'), ['scripts/worker.ts'], {
		env: appEnv(port, databaseUrl),
		stdio: ['ignore', 'ignore', 'pipe']
	});
}

async function stop(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise((resolve) => child.once('exit', resolve));
	child.kill('SIGTERM');
	await exited;
}

export const load: Measurement = {
	names: ['load.enqueue.p99_ms', 'load.enqueue.p50_ms', 'load.server_errors', 'load.completion.p50_s', 'load.memory.heap_growth_mb'],
	async run(server) {
		const buildDir = builtApp('load');
		if (!buildDir) return;
		const db = await server.freshDatabase('load', { max: 4 });
		const users = await insertUnlimitedUsers(db.sql, USERS, 'load');
		const port = await freePort();
		const origin = `http://127.0.0.1:${port}`;
		const app = startApp(buildDir, port, db.url);
		const worker = startWorker(port, db.url);
		let appLog = '';
		for (const child of [app, worker]) child.stderr!.on('data', (chunk: Buffer) => (appLog = (appLog + chunk.toString()).slice(-4000)));
		try {
			for (let i = 0; i < 600 && !(await fetch(`${origin}/api/health`).catch(() => null))?.ok; i++) await sleep(100);
			const sessions = new SessionStore(db.sql, SECRET);
			const tokens = await Promise.all(users.map((u) => sessions.start(u)));
			const phase = async (seconds: number) => {
				const tally = newTally();
				const deadline = performance.now() + seconds * 1000;
				const started = performance.now();
				await Promise.all(tokens.map((token, index) => user(origin, token, index, deadline, tally, started)));
				return { tally, seconds: (performance.now() - started) / 1000 };
			};

			log(`load: warm-up, ${USERS} users for ${WARMUP_SECONDS} s`);
			await phase(WARMUP_SECONDS);
			const before = await measureIdle(origin, db.sql, db.name);
			log(`load: ${USERS} users for ${RUN_SECONDS} s`);
			const { tally, seconds } = await phase(RUN_SECONDS);
			const after = await measureIdle(origin, db.sql, db.name);

			tally.enqueueMs.sort((a, b) => a - b);
			tally.completionMs.sort((a, b) => a - b);
			const mb = (bytes: number) => round(bytes / 2 ** 20, 1);
			const details = {
				users: USERS, seconds: round(seconds, 1), generations_submitted: tally.enqueueMs.length,
				completed: tally.completed, failed: tally.failed, stalled: tally.stalled, sse_events: tally.events,
				server_errors: tally.serverErrors, client_errors: tally.clientErrors, network_errors: tally.networkErrors,
				worker: 'one npm run worker process beside the app, concurrency 8, local model 1 s per image'
			};
			emit({ name: 'load.enqueue.p50_ms', value: round(percentile(tally.enqueueMs, 50)), unit: 'ms', ...details });
			emit({
				name: 'load.enqueue.p99_ms', value: round(percentile(tally.enqueueMs, 99)), unit: 'ms',
				p90_ms: round(percentile(tally.enqueueMs, 90)), p95_ms: round(percentile(tally.enqueueMs, 95)),
				over_1s: tally.slowEnqueueAt.length, over_1s_started_at_s: tally.slowEnqueueAt.slice(0, 40), ...details
			});
			emit({ name: 'load.server_errors', value: tally.serverErrors, unit: 'responses', samples: tally.serverErrorSamples, ...details });
			emit({
				name: 'load.completion.p50_s', value: round(percentile(tally.completionMs, 50) / 1000, 1), unit: 's',
				p99_s: round(percentile(tally.completionMs, 99) / 1000, 1), note: 'submit to completed, including the wait behind other users',
				...details
			});
			emit({
				name: 'load.memory.heap_growth_mb', value: mb(after.heapBytes - before.heapBytes), unit: 'MB',
				heap_before_mb: mb(before.heapBytes), heap_after_mb: mb(after.heapBytes),
				rss_before_mb: mb(before.residentBytes), rss_after_mb: mb(after.residentBytes),
				sse_subscribers_after: after.subscribers, db_connections_before: before.connections, db_connections_after: after.connections,
				note: 'idle after a warm-up vs idle after the run, lowest heap over 6 s with a GC every second'
			});
		} catch (error) {
			log(`load: app and worker stderr tail:\n${appLog}`);
			throw error;
		} finally {
			await Promise.all([stop(app), stop(worker)]);
			await db.drop();
		}
	}
};
