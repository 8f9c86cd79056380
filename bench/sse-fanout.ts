// Live progress over HTTP: the built app with 500 open event streams, progress written the way the
// worker writes it (record_generation_progress under a live claim), and the delay from each
// change's commit to a client having read the event's bytes off its socket. The clients run in a
// worker thread (bench/sse-clients.mjs), so their parsing does not share the main thread with the
// writes whose commit times they are compared with; the app is its own process.
//   sse.own.*     500 users, each watching their own generation (500 events per round)
//   sse.shared.*  500 streams on one generation (one change, 500 deliveries per round)
// BENCH_SSE_CPU_PROF=<dir> starts the app under node --cpu-prof, writing its profile there.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { SessionStore } from '../src/lib/server/auth/session';
import type { Sql } from '../src/lib/server/db/client';
import { admitGeneration, recordGenerationProgress, type GenerationRun } from '../src/lib/server/generations/run';
import { claimJobs } from '../src/lib/server/queue';
import { builtApp, emit, insertUnlimitedUsers, log, percentile, QUICK, round, sleep, startNodeApp, type Measurement } from './support';

const SECRET = 'bench-session-secret-that-is-long-enough-1234567890';
const METRICS_TOKEN = 'bench-metrics-token-1234567890';
const SUBSCRIBERS = 500;
const ROUNDS = QUICK ? 5 : 30;
/** Writers at once, like a worker's handlers each reporting progress. */
const WRITERS = 10;
const WORKER_ID = 'bench-sse';

const now = () => performance.timeOrigin + performance.now();

export interface Subscriber {
	generationId: string;
	token: string;
}

type ClientMessage =
	| { type: 'connected' | 'reached' | 'closed' }
	| { type: 'error'; message: string }
	| { type: 'ended'; index: number }
	| { type: 'seen'; seen: { ids: number[]; times: number[]; positions: number[]; places: Array<number | null> }[]; received: number };

/** The client thread, with a way to wait for its next message of a kind. */
export function startClients(origin: string, subscribers: Subscriber[]) {
	const worker = new Worker(new URL('./sse-clients.mjs', import.meta.url), { workerData: { origin, subscribers } });
	const waiting = new Map<string, (message: ClientMessage) => void>();
	const errors: string[] = [];
	let ended = 0;
	worker.on('message', (message: ClientMessage) => {
		if (message.type === 'error') errors.push(message.message);
		if (message.type === 'ended') ended++;
		waiting.get(message.type)?.(message);
	});
	const next = <T extends ClientMessage['type']>(type: T, ms: number) =>
		Promise.race([
			new Promise<Extract<ClientMessage, { type: T }>>((resolve) => waiting.set(type, resolve as never)),
			sleep(ms).then(() => null)
		]).finally(() => waiting.delete(type));
	return {
		next,
		post: (message: unknown) => worker.postMessage(message),
		errors,
		get ended() {
			return ended;
		},
		terminate: () => worker.terminate()
	};
}

/** CPU time (user + system, ms) the app process has used so far; NaN where /proc is not there. */
function cpuMs(pid: number | undefined): number {
	try {
		const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
		return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms (USER_HZ 100)
	} catch {
		return NaN;
	}
}

async function subscriberGauge(origin: string): Promise<number> {
	const response = await fetch(`${origin}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
	const match = /^picture_sse_subscribers\s+(\d+)/m.exec(await response.text());
	return match ? Number(match[1]) : NaN;
}

/** Runs fn over items with at most `limit` at once. */
export async function pooled<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
	let next = 0;
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
		while (next < items.length) await fn(items[next++]!);
	}));
}

/**
 * One case: the subscribers connect, then ROUNDS times every generation gets one progress change
 * (WRITERS transactions at a time); each delivery's delay is its read time minus the moment the
 * writer saw its transaction commit.
 */
async function runCase(name: string, origin: string, appPid: number | undefined, sql: Sql, runs: GenerationRun[], subscribers: Subscriber[]): Promise<void> {
	const before = await sql<{ id: string; event_seq: string; progress: number }[]>`
		select id, event_seq, progress from image_generations where id = any(${runs.map((r) => r.generationId)}::uuid[])`;
	const seqs = new Map(before.map((r) => [r.id, Number(r.event_seq)]));
	// Progress never goes backwards: a case after another carries on from where that one left it.
	const from = Math.max(...before.map((r) => r.progress));
	if (from + ROUNDS > 100) throw new Error(`${name}: progress ${from} leaves no room for ${ROUNDS} rounds`);
	const clients = startClients(origin, subscribers);
	/** commit time per generation and event id */
	const committed = new Map<string, Map<number, number>>(runs.map((r) => [r.generationId, new Map()]));
	const watchers = new Map<string, number>();
	for (const s of subscribers) watchers.set(s.generationId, (watchers.get(s.generationId) ?? 0) + 1);
	let timeouts = 0;
	try {
		if (!(await clients.next('connected', 60_000))) throw new Error(`${name}: not every subscriber connected: ${clients.errors.slice(0, 3).join('; ')}`);
		let total = subscribers.length; // each one's first event: the state at connect
		const cpuBefore = cpuMs(appPid);
		for (let step = 1; step <= ROUNDS; step++) {
			total += subscribers.length;
			const reached = clients.next('reached', 15_000);
			clients.post({ type: 'expect', total });
			await pooled(runs, WRITERS, async (run) => {
				if (!(await recordGenerationProgress(sql, run, from + step))) throw new Error(`${name}: lost the claim of ${run.jobId}`);
				committed.get(run.generationId)!.set(seqs.get(run.generationId)! + step, now());
			});
			if (!(await reached)) timeouts++;
		}
		const appCpu = cpuMs(appPid) - cpuBefore;
		const collected = (clients.post({ type: 'collect' }), await clients.next('seen', 30_000));
		if (!collected) throw new Error(`${name}: the clients did not report`);
		const delays: number[] = [];
		let missing = 0;
		let outOfOrder = 0;
		collected.seen.forEach((record, index) => {
			const times = committed.get(subscribers[index]!.generationId)!;
			const got = new Set<number>();
			for (let i = 0; i < record.ids.length; i++) {
				const id = record.ids[i]!;
				if (i > 0 && id <= record.ids[i - 1]!) outOfOrder++;
				got.add(id);
				const at = times.get(id);
				if (at !== undefined) delays.push(record.times[i]! - at);
			}
			for (const id of times.keys()) if (!got.has(id)) missing++;
		});
		clients.post({ type: 'close' });
		await clients.next('closed', 5_000);
		// Every stream closed by its client must leave no subscription behind in the app.
		let leaked = NaN;
		for (let i = 0; i < 50 && leaked !== 0; i++) {
			leaked = await subscriberGauge(origin);
			if (leaked !== 0) await sleep(100);
		}
		delays.sort((a, b) => a - b);
		const details = {
			subscribers: subscribers.length,
			generations: runs.length,
			rounds: ROUNDS,
			writers: WRITERS,
			events: delays.length,
			missing,
			out_of_order: outOfOrder,
			round_timeouts: timeouts,
			leaked_subscribers: leaked,
			// Less noisy than the delays on a shared machine: the app's own cost of the deliveries.
			app_cpu_us_per_event: round((appCpu * 1000) / Math.max(1, delays.length), 1),
			path: 'record_generation_progress commit -> NOTIFY -> app LISTEN -> read row -> SSE write -> client socket read'
		};
		emit({ name: `sse.${name}.p50_ms`, value: round(percentile(delays, 50)), unit: 'ms', ...details });
		emit({ name: `sse.${name}.p99_ms`, value: round(percentile(delays, 99)), unit: 'ms', ...details });
		emit({ name: `sse.${name}.max_ms`, value: round(delays.at(-1) ?? NaN), unit: 'ms', ...details });
	} finally {
		await clients.terminate();
	}
}

/** A generation per user started through the API, its job claimed and admitted as the worker would. */
export async function startRuns(origin: string, sql: Sql, tokens: string[]): Promise<GenerationRun[]> {
	const ids: string[] = new Array(tokens.length);
	await pooled(tokens.map((token, i) => ({ token, i })), 10, async ({ token, i }) => {
		const response = await fetch(`${origin}/api/generations`, {
			method: 'POST',
			headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
			body: JSON.stringify({ prompt: `sse bench ${i}`, model_id: 'local/preview', width: 512, height: 512 })
		});
		const body = (await response.json()) as { generation_id?: string };
		if (response.status !== 201 || !body.generation_id) throw new Error(`POST /api/generations: ${response.status}`);
		ids[i] = body.generation_id;
	});
	const jobs = await claimJobs(sql, { workerId: WORKER_ID, limit: tokens.length, leaseSeconds: 3600 });
	const byGeneration = new Map(jobs.map((job) => [String((job.payload as { generation_id?: string }).generation_id), job]));
	const runs = ids.map((generationId) => {
		const job = byGeneration.get(generationId);
		if (!job) throw new Error(`no claimed job for generation ${generationId}`);
		return { generationId, jobId: job.id, workerId: WORKER_ID, claimCount: job.claim_count };
	});
	await pooled(runs, WRITERS, async (run) => {
		const admission = await admitGeneration(sql, run);
		if (admission !== 'admitted') throw new Error(`admit_generation: ${admission}`);
	});
	return runs;
}

export const sseFanout: Measurement = {
	names: ['sse.own.p50_ms', 'sse.own.p99_ms', 'sse.own.max_ms', 'sse.shared.p50_ms', 'sse.shared.p99_ms', 'sse.shared.max_ms'],
	async run(server) {
		const buildDir = builtApp('sse');
		if (!buildDir) return;
		const db = await server.freshDatabase('sse', { max: WRITERS });
		const users = await insertUnlimitedUsers(db.sql, SUBSCRIBERS, 'sse');
		// 500 running at once: the model's concurrency is not what is measured.
		await db.sql`update models set max_concurrency = 1000 where id = 'local/preview'`;
		const profileDir = process.env.BENCH_SSE_CPU_PROF;
		const app = await startNodeApp(buildDir, { DATABASE_URL: db.url, SESSION_SECRET: SECRET, METRICS_TOKEN, IN_PROCESS_WORKER: 'off' }, {
			readyPath: '/api/health',
			label: 'sse',
			nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []
		});
		try {
			const { origin } = app;
			const sessions = new SessionStore(db.sql, SECRET);
			const tokens = await Promise.all(users.map((u) => sessions.start(u)));
			const runs = await startRuns(origin, db.sql, tokens);
			log(`sse: ${runs.length} generations running; ${SUBSCRIBERS} streams each case`);
			await runCase('own', origin, app.pid, db.sql, runs, runs.map((run, i) => ({ generationId: run.generationId, token: tokens[i]! })));
			const one = runs[0]!;
			await runCase('shared', origin, app.pid, db.sql, [one], Array.from({ length: SUBSCRIBERS }, () => ({ generationId: one.generationId, token: tokens[0]! })));
		} finally {
			await app.stop();
			await db.drop();
		}
	}
};
