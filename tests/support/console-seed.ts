// Rows with chosen timestamps for the overview, alert and metrics tests (vitest runs *.test.ts only).
import type { Sql } from '../../src/lib/server/db/client';

export interface SeedJob {
	job_type?: string;
	status: 'pending' | 'processing' | 'completed' | 'failed' | 'cancelled';
	/** Seconds before now (or an SQL timestamp expression via `at`). */
	createdAgo?: number;
	scheduledAgo?: number;
	startedAgo?: number;
	completedAgo?: number;
	/** Run time: started_at = completed_at - runSeconds. */
	runSeconds?: number;
	model?: string;
	/** For processing jobs: seconds until the lease ends (negative: expired). */
	leaseLeft?: number;
	count?: number;
}

/** Inserts jobs straight into job_queue, timestamps relative to the database's now(). */
export async function seedJobs(sql: Sql, job: SeedJob): Promise<void> {
	const created = job.createdAgo ?? (job.completedAgo ?? 0) + (job.runSeconds ?? 0) + 1;
	const completedAgo = job.completedAgo ?? (['completed', 'failed', 'cancelled'].includes(job.status) ? 0 : null);
	const startedAgo =
		job.startedAgo ?? (completedAgo !== null ? completedAgo + (job.runSeconds ?? 0) : job.status === 'processing' ? 1 : null);
	const processing = job.status === 'processing';
	await sql`
		insert into public.job_queue (job_type, payload, status, attempts, created_at, scheduled_at, started_at, completed_at,
		                              locked_by, locked_until)
		select ${job.job_type ?? 'generate-image'},
		       ${sql.json(job.model ? { model_id: job.model } : {})},
		       ${job.status}, ${processing || completedAgo !== null ? 1 : 0},
		       now() - make_interval(secs => ${created}),
		       now() - make_interval(secs => ${job.scheduledAgo ?? created}),
		       case when ${startedAgo}::float8 is null then null else now() - make_interval(secs => ${startedAgo}::float8) end,
		       case when ${completedAgo}::float8 is null then null else now() - make_interval(secs => ${completedAgo}::float8) end,
		       case when ${processing} then 'test-worker' end,
		       case when ${processing} then now() + make_interval(secs => ${job.leaseLeft ?? 30}) end
		from generate_series(1, ${job.count ?? 1})`;
}

/**
 * Completed generations of a model, made by a throwaway user: created `createdAgo` seconds ago,
 * done `completedAgo` ago; `retriedAgo` marks a later attempt (an operator's retry) that started then.
 */
export async function seedGenerations(
	sql: Sql,
	g: { model: string; createdAgo: number; completedAgo: number; retriedAgo?: number; status?: string; count?: number }
): Promise<void> {
	const [user] = await sql<{ id: string }[]>`insert into auth.users (email) values (${`seed-${crypto.randomUUID()}@example.test`}) returning id`;
	await sql`
		insert into public.image_generations (user_id, prompt, model_id, width, height, seed, status, progress, image_path,
		                                      created_at, started_at, run_started_at, completed_at)
		select ${user!.id}, 'seeded', ${g.model}, 512, 512, 1, ${g.status ?? 'completed'}, 100,
		       case when ${g.status ?? 'completed'} = 'completed' then 'x/y.png' end,
		       now() - make_interval(secs => ${g.createdAgo}), now() - make_interval(secs => ${g.createdAgo}),
		       now() - make_interval(secs => ${g.retriedAgo ?? g.createdAgo}), now() - make_interval(secs => ${g.completedAgo})
		from generate_series(1, ${g.count ?? 1})`;
}

/** A worker run last seen `seenAgo` seconds ago. */
export async function seedWorkerRun(sql: Sql, seenAgo: number, trigger: 'cron' | 'continuous' | 'manual' = 'cron'): Promise<void> {
	await sql`
		insert into public.worker_runs (worker_id, trigger, started_at, last_seen_at, finished_at, processed)
		values ('test-worker', ${trigger}, now() - make_interval(secs => ${seenAgo + 5}), now() - make_interval(secs => ${seenAgo}),
		        case when ${trigger} = 'continuous' then null else now() - make_interval(secs => ${seenAgo}) end, 1)`;
}

export async function emptyTables(sql: Sql): Promise<void> {
	await sql`truncate public.job_queue, public.job_queue_paused_types, public.worker_runs, public.alert_state, public.image_generations cascade`;
}
