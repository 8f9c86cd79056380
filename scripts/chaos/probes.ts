// Measurements a chaos run takes from the database after (or while) it runs: kill-to-reclaim
// times from the job audit, and whether the workers' LISTEN came back after a Postgres restart.
import type { Sql } from '../../src/lib/server/db/client';
import { startGeneration } from '../../src/lib/server/generations/start';
import { createChaosUser } from './cluster';
import type { ScenarioOptions } from './scenario';

export interface Kill {
	pid: number;
	at: number;
}

/**
 * For each kill, the jobs the killed process was running at that moment (by the audit: its last
 * claim before the kill was by that pid and nothing changed it before the kill) and how long until
 * another worker claimed each of them.
 */
export async function recoveryTimes(sql: Sql, kills: Kill[]): Promise<number[]> {
	if (kills.length === 0) return [];
	const rows = await sql<{ seconds: number }[]>`
		with kills as (
			select * from unnest(${kills.map((k) => k.pid)}::int[], ${kills.map((k) => new Date(k.at).toISOString())}::timestamptz[])
				as k(pid, killed_at)
		),
		held as (
			select k.killed_at, last.job_id
			from kills k
			join lateral (
				select distinct on (a.job_id) a.job_id, a.new_status, a.locked_by
				from chaos_job_audit a
				where a.at <= k.killed_at
				  and a.job_id in (select job_id from chaos_job_audit b
				                   where b.locked_by like '%:' || k.pid || ':%' and b.at <= k.killed_at)
				order by a.job_id, a.seq desc
			) last on last.new_status = 'processing' and last.locked_by like '%:' || k.pid || ':%'
		)
		select extract(epoch from (select min(n.at) from chaos_job_audit n
		                            where n.job_id = h.job_id and n.at > h.killed_at and n.new_status = 'processing')
		               - h.killed_at)::float8 as seconds
		from held h`;
	return rows.map((r) => r.seconds).filter((s) => s !== null && Number.isFinite(s)).sort((x, y) => x - y);
}

export async function probeListenAfterRestart(sql: Sql, options: ScenarioOptions, workers: number, log: (m: string) => void) {
	const pollSeconds = options.pollSeconds ?? 1;
	await options.restartPostgres!(options.postgresDownMs ?? 2000);
	// The workers' LISTEN connections come back by themselves (the driver re-subscribes after its
	// reconnect backoff): wait for one per worker, as the server sees them, and time it.
	const up = Date.now();
	let listenersBackMs: number | null = null;
	while (Date.now() - up < 60_000) {
		const [row] = await sql<{ n: number }[]>`
			select count(*)::int as n from pg_stat_activity
			where datname = current_database() and query ilike 'listen%job_queue_inserted%'`.catch(() => [{ n: -1 }]);
		if (row!.n >= workers) {
			listenersBackMs = Date.now() - up;
			break;
		}
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	const userId = await createChaosUser(sql, 'probe');
	const submitted = Date.now();
	const { job_id } = await startGeneration(
		sql,
		userId,
		{ prompt: 'listen probe', model_id: options.modelId ?? 'local/preview', width: 256, height: 256, seed: 1, negative_prompt: null, idempotency_key: null },
		{ replicateConfigured: true }
	);
	let pickupMs: number | null = null;
	while (Date.now() - submitted < (pollSeconds + 10) * 1000) {
		const [row] = await sql<{ claim_count: number }[]>`select claim_count from job_queue where id = ${job_id}`;
		if (row && row.claim_count > 0) {
			pickupMs = Date.now() - submitted;
			break;
		}
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
	log(`listen probe: listeners back ${listenersBackMs} ms after the restart; picked up after ${pickupMs} ms (poll every ${pollSeconds} s)`);
	// Let it finish so the outcome counts it like the rest.
	const until = Date.now() + 60_000;
	while (Date.now() < until) {
		const [row] = await sql<{ status: string }[]>`select status from image_generations where job_id = ${job_id}`;
		if (row && ['completed', 'failed', 'cancelled'].includes(row.status)) break;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	return { listenersBackMs, pickupMs, pollSeconds };
}
