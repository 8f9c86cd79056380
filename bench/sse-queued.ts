// Places in line over HTTP: the built app with 500 event streams on generations waiting in a
// 5,000-job queue. Each round a worker elsewhere claims the head of the line (as free slots would);
// every stream's place moves, and the delay from that claim's commit to the client reading its
// position event is measured. The app reads the queue once per refresh for all 500, so also:
//   sse.queued.refresh_ms   one refresh (the queue read and the claim order) at 5,000 jobs, in-process
//   sse.queued.idle_cpu_ms_per_s  the app's CPU per second while 500 wait and nothing moves
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SessionStore } from '../src/lib/server/auth/session';
import { QueuePositions } from '../src/lib/server/generations/positions';
import { claimJobs } from '../src/lib/server/queue';
import { pooled, startClients } from './sse-fanout';
import { builtApp, emit, insertUnlimitedUsers, log, percentile, QUICK, round, sleep, startNodeApp, type Measurement } from './support';

const SECRET = 'bench-session-secret-that-is-long-enough-1234567890';
const SUBSCRIBERS = 500;
const QUEUE = 5_000;
const ROUNDS = QUICK ? 4 : 12;
const CLAIMED_PER_ROUND = 20;
const now = () => performance.timeOrigin + performance.now();

function cpuMs(pid: number): number {
	const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
	return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function post(origin: string, token: string, prompt: string): Promise<string> {
	const response = await fetch(`${origin}/api/generations`, {
		method: 'POST',
		headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
		body: JSON.stringify({ prompt, model_id: 'local/preview', width: 256, height: 256 })
	});
	const body = (await response.json()) as { generation_id?: string };
	if (response.status !== 201 || !body.generation_id) throw new Error(`POST /api/generations: ${response.status}`);
	return body.generation_id;
}

export const sseQueued: Measurement = {
	names: ['sse.queued.p50_ms', 'sse.queued.p99_ms', 'sse.queued.refresh_ms', 'sse.queued.idle_cpu_ms_per_s'],
	async run(server) {
		const buildDir = builtApp('sse-queued');
		if (!buildDir) return;
		const db = await server.freshDatabase('sse_queued', { max: 10 });
		const users = await insertUnlimitedUsers(db.sql, SUBSCRIBERS + 10, 'queued');
		const heavy = users.slice(0, 10);
		const watchers = users.slice(10);
		const app = await startNodeApp(buildDir, { DATABASE_URL: db.url, SESSION_SECRET: SECRET, IN_PROCESS_WORKER: 'off' }, { readyPath: '/api/health', label: 'sse-queued' });
		try {
			const { origin } = app;
			const sessions = new SessionStore(db.sql, SECRET);
			const heavyTokens = await Promise.all(heavy.map((u) => sessions.start(u)));
			const tokens = await Promise.all(watchers.map((u) => sessions.start(u)));
			// The heavy users' bursts first, then one generation per waiting user.
			const filler = Array.from({ length: QUEUE - SUBSCRIBERS }, (_, i) => i);
			await pooled(filler, 20, async (i) => void (await post(origin, heavyTokens[i % heavyTokens.length]!, `burst ${i}`)));
			const ids = new Array<string>(SUBSCRIBERS);
			await pooled(tokens.map((_, i) => i), 20, async (i) => void (ids[i] = await post(origin, tokens[i]!, `waiting ${i}`)));
			log(`sse-queued: ${QUEUE} jobs queued; ${SUBSCRIBERS} streams`);

			// The cost of one refresh at this size, in this process (the app's is the same code).
			const positions = new QueuePositions(db.sql, { refreshMs: 0 });
			const refreshes: number[] = [];
			for (let i = 0; i < 20; i++) {
				const began = performance.now();
				await positions.standingOf(ids[0]!);
				refreshes.push(performance.now() - began);
			}
			positions.close();

			const clients = startClients(origin, ids.map((generationId, i) => ({ generationId, token: tokens[i]! })));
			try {
				if (!(await clients.next('connected', 60_000))) throw new Error(`not every stream connected: ${clients.errors.slice(0, 3).join('; ')}`);
				// Let every stream's first place arrive, then measure the app at rest with 500 watching.
				await sleep(3_000);
				const cpuBefore = cpuMs(app.pid);
				await sleep(5_000);
				const idleCpuPerSecond = (cpuMs(app.pid) - cpuBefore) / 5;

				const commits: number[] = [];
				for (let r = 0; r < ROUNDS; r++) {
					await claimJobs(db.sql, { workerId: 'bench-elsewhere', limit: CLAIMED_PER_ROUND, leaseSeconds: 3600 });
					commits.push(now());
					// A round per two refresh periods: each claim's moves arrive before the next claim.
					await sleep(2_000);
				}
				clients.post({ type: 'collect' });
				const collected = await clients.next('seen', 30_000);
				if (!collected) throw new Error('the clients did not report');
				// A delivery: the first position event after a claim whose number moved (estimates also
				// shift with the clock while nothing runs, and those events are not what is measured).
				const delays: number[] = [];
				let missed = 0;
				let positionEvents = 0;
				for (const record of collected.seen) {
					positionEvents += record.positions.length;
					for (let r = 0; r < commits.length; r++) {
						const after = commits[r]!;
						const before = commits[r + 1] ?? Infinity;
						let previous: number | null = null;
						let arrived: number | undefined;
						for (let i = 0; i < record.positions.length; i++) {
							const at = record.positions[i]!;
							const place = record.places[i] ?? null;
							if (at <= after) previous = place ?? previous;
							else if (at < before && place !== null && place !== previous) {
								arrived = at;
								break;
							}
						}
						// A stream whose job was claimed this round leaves the line: no move to see.
						if (arrived === undefined) missed++;
						else delays.push(arrived - after);
					}
				}
				delays.sort((a, b) => a - b);
				refreshes.sort((a, b) => a - b);
				const details = {
					subscribers: SUBSCRIBERS, queued_jobs: QUEUE, rounds: ROUNDS, claimed_per_round: CLAIMED_PER_ROUND,
					deliveries: delays.length, missed, position_events: positionEvents,
					path: 'claim commit -> app refresh timer (1 s) -> one queue read for all -> position frame per changed stream -> client socket read'
				};
				emit({ name: 'sse.queued.p50_ms', value: round(percentile(delays, 50)), unit: 'ms', ...details });
				emit({ name: 'sse.queued.p99_ms', value: round(percentile(delays, 99)), unit: 'ms', ...details });
				emit({ name: 'sse.queued.refresh_ms', value: round(percentile(refreshes, 50)), unit: 'ms', p99_ms: round(percentile(refreshes, 99)), queued_jobs: QUEUE });
				emit({ name: 'sse.queued.idle_cpu_ms_per_s', value: round(idleCpuPerSecond), unit: 'ms/s', subscribers: SUBSCRIBERS });
			} finally {
				clients.post({ type: 'close' });
				await clients.terminate();
			}
		} finally {
			await app.stop();
			await db.drop();
		}
	}
};
