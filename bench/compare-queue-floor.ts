// The floor under the queue's throughput: the two row updates every job costs while job_queue is the
// job's record (the seed's table, read by its verification queries and published to Realtime), and
// nothing else. Each job's row is set processing by its primary key (claim_jobs' SET list, no search
// for the head of the line, no lanes, keys or room) and later completed by its primary key
// (complete_jobs' SET list and fencing), from a bare postgres.js loop that knows the ids in advance.
// No claim can cost less than this, so floor / graphile-worker is the most any claim design can reach
// against the reference; the issue's goal for both throughputs is 1.5x.
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/lib/server/db/client';
import { emitComparison, ROUNDS } from './compare-support';
import type { DrainResult } from './drive';
import { CLAIM_GOAL, GRAPHILE_BATCHED } from './compare-queue';
import { drainGraphileRound, GRAPHILE_VERSION } from './graphile';
import { BATCHED, SINGLE } from './queue-throughput';
import { insertPending, log, median, round, type BenchServer, type Measurement } from './support';

interface FloorShape {
	label: string;
	/** Rows set processing per statement: 1 for single claims. */
	claimSize: number;
	/** Rows completed per statement (the worker completes a few at a time even with single claims). */
	completeSize: number;
	jobs: number;
	maxSeconds: number;
	connections: number;
}

/**
 * Single claims: one row a statement, completions five at a time (about what the ContinuousWorker's
 * completion batches hold at concurrency 10). Batched: graphile-worker's local queue of 50, and the
 * worker's own batch size.
 */
const SHAPES: FloorShape[] = [
	{ label: 'single', claimSize: 1, completeSize: 5, jobs: SINGLE.jobs, maxSeconds: SINGLE.maxSeconds, connections: SINGLE.connections },
	{ label: 'batched', claimSize: GRAPHILE_BATCHED.localQueueSize, completeSize: GRAPHILE_BATCHED.localQueueSize, jobs: BATCHED.jobs, maxSeconds: BATCHED.maxSeconds, connections: BATCHED.connections }
];

/**
 * The table the floor updates: job_queue itself, or a copy of its columns and defaults with only a
 * primary key (no other index, no check, no trigger): what the row updates cost without the features
 * the other issues built on job_queue (fair lanes, keys, the console's indexes, the folded totals).
 */
type FloorTable = 'public.job_queue' | 'public.floor_jobs';

async function claimRows(sql: Sql, table: FloorTable, workerId: string, ids: string[]): Promise<{ id: string; claim_count: number }[]> {
	// synchronous_commit off for the claim's transaction, as claim_jobs sets it.
	return sql<{ id: string; claim_count: number }[]>`
		update ${sql(table)} j
		set status = 'processing', attempts = j.attempts + 1, claim_count = j.claim_count + 1,
		    started_at = now(), locked_by = ${workerId}, locked_until = now() + make_interval(secs => 60), updated_at = now()
		from (select set_config('synchronous_commit', 'off', true)) as s
		where j.id = any (${ids}::uuid[]) and j.status = 'pending'
		returning j.id, j.claim_count`;
}

async function completeRows(sql: Sql, table: FloorTable, workerId: string, claims: { id: string; claim_count: number }[]): Promise<number> {
	const rows = await sql`
		update ${sql(table)} j
		set status = 'completed', completed_at = now(), locked_by = null, locked_until = null, updated_at = now()
		from unnest(${claims.map((c) => c.id)}::uuid[], ${claims.map((c) => c.claim_count)}::integer[]) as t(id, claim_count)
		where j.id = t.id and j.locked_by = ${workerId} and j.claim_count = t.claim_count
		returning j.id`;
	return rows.length;
}

/** Each connection claims and completes its share of the ids, in claim order, until done or the deadline. */
async function floorLoop(sql: Sql, table: FloorTable, shape: FloorShape, ids: string[]): Promise<DrainResult> {
	let done = 0;
	const started = performance.now();
	const deadline = started + shape.maxSeconds * 1000;
	const loop = async (i: number) => {
		const workerId = `floor-${i}`;
		const mine = ids.filter((_, n) => n % shape.connections === i);
		let held: { id: string; claim_count: number }[] = [];
		for (let at = 0; at < mine.length && performance.now() < deadline; at += shape.claimSize) {
			const want = mine.slice(at, at + shape.claimSize);
			const claimed = await claimRows(sql, table, workerId, want);
			if (claimed.length !== want.length) throw new Error(`floor: ${want.length - claimed.length} row(s) not claimed`);
			held = held.concat(claimed);
			if (held.length >= shape.completeSize) {
				const completed = await completeRows(sql, table, workerId, held);
				if (completed !== held.length) throw new Error(`floor: ${held.length - completed} completion(s) refused`);
				done += completed;
				held = [];
			}
		}
		if (held.length > 0) done += await completeRows(sql, table, workerId, held);
	};
	await Promise.all(Array.from({ length: shape.connections }, (_, i) => loop(i)));
	const seconds = (performance.now() - started) / 1000;
	return { jobs: done, seconds: round(seconds, 3), jobsPerSecond: Math.round(done / seconds), drained: done >= shape.jobs };
}

async function floor(server: BenchServer, name: string, table: FloorTable, shape: FloorShape): Promise<DrainResult> {
	const db = await server.freshDatabase(name, { max: shape.connections });
	try {
		await insertPending(db.sql, shape.jobs);
		if (table === 'public.floor_jobs') {
			await db.sql`create table public.floor_jobs (like public.job_queue including defaults, primary key (id))`;
			await db.sql`insert into public.floor_jobs select * from public.job_queue`;
		}
		await db.sql`vacuum analyze ${db.sql(table)}`;
		const rows = await db.sql<{ id: string }[]>`
			select id from ${db.sql(table)} order by priority desc, scheduled_at, id`;
		await Promise.all(Array.from({ length: shape.connections }, () => db.sql`select pg_sleep(0.01)`));
		const result = await floorLoop(db.sql, table, shape, rows.map((r) => r.id));
		const [check] = await db.sql<{ completed: number }[]>`
			select count(*)::int as completed from ${db.sql(table)} where status = 'completed'`;
		if (check!.completed !== result.jobs) throw new Error(`floor: counted ${result.jobs}, the table holds ${check!.completed} completed`);
		return result;
	} finally {
		await db.drop();
	}
}

/** graphile-worker as the matching comparison runs it: one job per slot, or its local queue and batched completion. */
const graphileWorker = (shape: FloorShape) => (shape.claimSize === 1 ? { concurrency: SINGLE.concurrency } : GRAPHILE_BATCHED);

export const compareFloor: Measurement = {
	names: SHAPES.map((s) => `compare.queue.floor.${s.label}`),
	async run(server) {
		for (const shape of SHAPES) {
			const name = `compare.queue.floor.${shape.label}`;
			const rounds = { floor: [] as DrainResult[], bare: [] as DrainResult[], graphile: [] as DrainResult[] };
			for (let r = 1; r <= ROUNDS; r++) {
				log(`${name}: round ${r}/${ROUNDS}, the floor on job_queue`);
				rounds.floor.push(await floor(server, `${name}_f${r}`, 'public.job_queue', shape));
				log(`${name}: round ${r}/${ROUNDS}, the floor on a table with a primary key only`);
				rounds.bare.push(await floor(server, `${name}_b${r}`, 'public.floor_jobs', shape));
				log(`${name}: round ${r}/${ROUNDS}, graphile-worker ${GRAPHILE_VERSION}`);
				rounds.graphile.push(await drainGraphileRound(server, `${name}_g${r}`, shape, graphileWorker(shape)));
			}
			const rate = (results: DrainResult[]) => median(results.map((r) => r.jobsPerSecond));
			const ratio = rate(rounds.floor) / rate(rounds.graphile);
			const reference = graphileWorker(shape);
			emitComparison({
				name,
				unit: 'jobs/s',
				picture: rounds.floor.map((r) => r.jobsPerSecond),
				reference: rounds.graphile.map((r) => r.jobsPerSecond),
				referenceName: `graphile-worker ${GRAPHILE_VERSION}, concurrency ${reference.concurrency}${'localQueueSize' in reference ? `, localQueue.size ${reference.localQueueSize}, completeJobBatchDelay ${reference.completeBatchDelayMs} ms` : ', no local queue'}`,
				better: 'higher',
				// Not a goal of its own: the bound on what the issue's 1.5x goals can reach.
				goal: null,
				details: {
					what: `job_queue's two row updates per job by primary key, no claim search: ${shape.claimSize} row(s) set processing a statement, ${shape.completeSize} completed a statement, ${shape.connections} connections`,
					issue_goal_ratio: CLAIM_GOAL.minRatio,
					floor_reaches_issue_goal: ratio >= CLAIM_GOAL.minRatio,
					queued: shape.jobs,
					max_seconds: shape.maxSeconds,
					floor_rounds: rounds.floor.map((r) => ({ jobs: r.jobs, seconds: r.seconds, drained: r.drained })),
					// The same loop on a copy of job_queue's columns with a primary key only.
					bare_table_rounds: rounds.bare.map((r) => r.jobsPerSecond),
					bare_table_ratio: round(rate(rounds.bare) / rate(rounds.graphile), 3),
					reference_rounds: rounds.graphile.map((r) => ({ jobs: r.jobs, seconds: r.seconds, drained: r.drained })),
					settings: server.settings
				}
			});
		}
	}
};
