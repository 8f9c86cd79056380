// Recovery time with production settings (30 s lease, default poll and reaper): how long until a
// SIGKILLed worker's job runs again. Kills happen in parallel: several workers hold all the jobs
// (a slow local model keeps them running), all are SIGKILLed at once, a fresh worker starts, and
// each job's kill-to-reclaim time is read from the audit trail.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSql, type Sql } from '../../src/lib/server/db/client';
import { startGeneration } from '../../src/lib/server/generations/start';
import { createChaosUser, prepareChaosDatabase } from './cluster';
import { sigkill, startWorker, workerEnv, type Proc } from './processes';
import { recoveryTimes, type Kill } from './probes';

export interface RecoveryResult {
	jobs: number;
	seconds: number[];
	notReclaimed: number;
	durationMs: number;
}

async function poll<T>(what: string, deadlineMs: number, read: () => Promise<T | null>): Promise<T> {
	const until = Date.now() + deadlineMs;
	for (;;) {
		const value = await read();
		if (value !== null) return value;
		if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

async function processing(sql: Sql, claimCount: number): Promise<number> {
	const [row] = await sql<{ n: number }[]>`
		select count(*)::int as n from job_queue where status = 'processing' and claim_count >= ${claimCount}`;
	return row!.n;
}

export async function measureRecovery(options: {
	databaseUrl: string;
	jobs: number;
	/** Worker processes holding the jobs before the kill. */
	holders?: number;
	log: (message: string) => void;
}): Promise<RecoveryResult> {
	const { log, jobs } = options;
	const holders = options.holders ?? 4;
	const scratch = await mkdtemp(path.join(tmpdir(), 'picture-recovery-'));
	const sql = createSql(options.databaseUrl, { max: 4 });
	const procs: Proc[] = [];
	const started = Date.now();
	try {
		await prepareChaosDatabase(sql, { modelConcurrency: jobs * 2 });
		const userId = await createChaosUser(sql, 'recovery');
		for (let i = 0; i < jobs; i++) {
			await startGeneration(
				sql,
				userId,
				{ prompt: `recovery ${i}`, model_id: 'local/detailed', width: 256, height: 256, seed: i, negative_prompt: null, idempotency_key: null },
				{ replicateConfigured: false }
			);
		}
		// Production lease, poll and reaper: only the model's pace (a minute per image) is set, so
		// every job is still running when the kill comes.
		const env = (concurrency: number) =>
			workerEnv({ databaseUrl: options.databaseUrl, imageDir: path.join(scratch, 'images'), dataDir: scratch, leaseSeconds: 30, concurrency, msPerImage: 60_000 });
		const base = env(Math.ceil(jobs / holders));
		delete base.WORKER_LEASE_SECONDS;
		delete base.WORKER_POLL_SECONDS;
		delete base.DATABASE_POOL_SIZE;
		for (let i = 0; i < holders; i++) procs.push(startWorker(`holder-${i}`, base, log));
		await poll('every job to be running', 120_000, async () => ((await processing(sql, 1)) >= jobs ? true : null));
		// Each holder is killed at its own random moment over 20 s, so the kills fall at different
		// points of the lease-renewal and reaper cycles (all its jobs share its heartbeat).
		const kills: Kill[] = [];
		let freshStarted = false;
		const fresh = env(Math.min(200, jobs));
		delete fresh.WORKER_LEASE_SECONDS;
		delete fresh.WORKER_POLL_SECONDS;
		delete fresh.DATABASE_POOL_SIZE;
		await Promise.all(
			procs.map(async (proc) => {
				await new Promise((resolve) => setTimeout(resolve, Math.random() * 20_000));
				kills.push({ pid: proc.child.pid!, at: Date.now() });
				await sigkill(proc);
				if (!freshStarted) {
					freshStarted = true;
					procs.push(startWorker('fresh', fresh, log));
				}
			})
		);
		log(`killed ${holders} workers holding ${jobs} jobs; a fresh worker was started after the first kill`);
		let notReclaimed = 0;
		try {
			await poll('every job to be claimed again', 120_000, async () => ((await processing(sql, 2)) >= jobs ? true : null));
		} catch {
			notReclaimed = jobs - (await processing(sql, 2));
		}
		const seconds = await recoveryTimes(sql, kills);
		return { jobs, seconds, notReclaimed, durationMs: Date.now() - started };
	} finally {
		for (const proc of procs) await sigkill(proc);
		await sql.end({ timeout: 5 });
		await rm(scratch, { recursive: true, force: true });
	}
}

export async function runRecoveryScenario(options: { databaseUrl: string; jobs: number; log: (m: string) => void }) {
	const result = await measureRecovery(options);
	const s = result.seconds;
	const at = (p: number) => (s.length ? Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! * 100) / 100 : null);
	const summary = {
		scenario: 'recovery',
		jobs_killed: result.jobs,
		measured: s.length,
		not_reclaimed: result.notReclaimed,
		recovery_seconds: { p50: at(50), p99: at(99), max: at(100), min: at(0.0001) },
		target_seconds: 45,
		duration_s: Math.round(result.durationMs / 100) / 10
	};
	const p99 = at(99);
	return { summary, ok: result.notReclaimed === 0 && s.length === result.jobs && p99 !== null && p99 <= 45 };
}
