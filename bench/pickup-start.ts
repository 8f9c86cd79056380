// Pickup latency through the app's start path: services.generations.start (start_generation with its
// wake deferred to after the commit, queue/wake.ts) to the generate-image handler starting, on an
// idle ContinuousWorker (LISTEN + slow poll). Interleaved, sample by sample, with the same start
// notifying inside its transaction (start_generation without p_defer_wake), so both are one run.
import { performance } from 'node:perf_hooks';
import type { AppUser } from '../src/lib/server/auth/user';
import { loadConfig } from '../src/lib/server/config';
import { createServices } from '../src/lib/server/services';
import { ContinuousWorker } from '../src/lib/server/worker/continuous';
import { emit, insertUnlimitedUsers, log, percentile, QUICK, round, sleep, type Measurement } from './support';

const SAMPLES = QUICK ? 60 : 400;
const MAX_SECONDS = QUICK ? 6 : 30;
const WARMUP = QUICK ? 10 : 30;
const GAP_MS = { min: 2, max: 8 };
const POLL_MS = 5_000;

export const pickupStart: Measurement = {
	names: ['queue.pickup.start.deferred.p50_ms', 'queue.pickup.start.deferred.p99_ms', 'queue.pickup.start.in_transaction.p50_ms', 'queue.pickup.start.in_transaction.p99_ms'],
	async run(server) {
		const db = await server.freshDatabase('queue.pickup.start', { max: 10 });
		const producer = db.connect(2);
		const [user] = await insertUnlimitedUsers(db.sql, 1, 'pickup');
		const config = loadConfig({ IN_PROCESS_WORKER: 'off', DATA_DIR: server.diskDir });
		const services = createServices(config, { sql: producer, databaseUrl: db.url, migrations: [], sessionSecret: 'bench-secret-that-is-long-enough-0123456789', handlers: {} });
		const starts = new Map<string, number>();
		let waiting: { resolve: () => void } | null = null;
		const worker = new ContinuousWorker({
			sql: db.sql,
			handlers: {
				'generate-image': async (job) => {
					starts.set(String(job.payload.generation_id), performance.now());
					waiting?.resolve();
				}
			},
			concurrency: 10,
			batchSize: 1,
			leaseSeconds: 60,
			pollMs: POLL_MS,
			listen: true,
			trigger: 'manual'
		});
		const request = (n: number) => ({ prompt: `pickup ${n}`, model_id: 'local/preview', width: 512, height: 512, seed: 1, negative_prompt: null, idempotency_key: null });
		const ways = {
			deferred: async (n: number) => (await services.generations.start({ id: user!.id } as AppUser, request(n))).generation_id,
			in_transaction: async (n: number) => {
				const [row] = await producer<{ r: { generation_id: string } }[]>`
					select public.start_generation(${user!.id}, ${`pickup ${n}`}, 'local/preview', 512, 512, 1) as r`;
				return row!.r.generation_id;
			}
		};
		const samples: Record<keyof typeof ways, number[]> = { deferred: [], in_transaction: [] };
		try {
			await worker.start();
			await producer`select 1`;
			log(`queue.pickup.start: ${SAMPLES} samples each (+${WARMUP} warm-up), alternating, one job at a time`);
			const deadline = performance.now() + MAX_SECONDS * 1000;
			for (let n = 0; n < 2 * (WARMUP + SAMPLES) && performance.now() < deadline; n++) {
				const way = n % 2 === 0 ? 'deferred' : 'in_transaction';
				const started = new Promise<void>((resolve) => (waiting = { resolve }));
				const before = performance.now();
				const id = await ways[way](n);
				await Promise.race([started, sleep(POLL_MS * 2).then(() => Promise.reject(new Error(`generation ${id} was not picked up`)))]);
				if (n >= 2 * WARMUP) samples[way].push(starts.get(id)! - before);
				await sleep(GAP_MS.min + Math.random() * (GAP_MS.max - GAP_MS.min));
			}
		} finally {
			await worker.stop(5_000).catch(() => {});
			await services.jobWaker.idle();
			await db.drop();
		}
		for (const [way, list] of Object.entries(samples)) {
			list.sort((a, b) => a - b);
			if (list.length === 0) throw new Error('no sample within the time limit');
			const details = {
				samples: list.length,
				measured_from: way === 'deferred' ? 'just before services.generations.start (its round trip, commit and the wake after it)' : 'just before start_generation notifying in its transaction',
				worker: 'ContinuousWorker, LISTEN job_queue_inserted, concurrency 10, batch 1, poll 5 s',
				settings: server.settings
			};
			emit({ name: `queue.pickup.start.${way}.p50_ms`, value: round(percentile(list, 50), 3), unit: 'ms', ...details });
			emit({ name: `queue.pickup.start.${way}.p99_ms`, value: round(percentile(list, 99), 3), unit: 'ms', ...details });
		}
	}
};
