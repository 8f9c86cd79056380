// What a chaos run must leave behind, read from the database's append-only records and the image
// store's files, never from the processes' own accounts of what they did.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Sql } from '../../src/lib/server/db/client';

export interface Outcome {
	generations: number;
	completed: number;
	/** Generations that did not end completed (or whose job did not). */
	lost: number;
	/** Jobs whose audit shows more than one transition to completed. */
	jobsCompletedTwice: number;
	/** Generations whose history shows more than one 'completed'. */
	generationsCompletedTwice: number;
	/** Sum of claims over all jobs (> jobs when a kill made a job run again). */
	claims: number;
	/** Jobs claimed more than once (each a re-run after a kill, a reap or a retry). */
	rerunJobs: number;
	reaped: number;
	failedAttempts: number;
	snoozes: number;
	maxAttemptsUsed: number;
	/** Failed jobs that used all their attempts, and failed jobs that did not (a permanent error). */
	failedExhausted: number;
	failedEarly: number;
	/** Final jobs by the attempts they used. */
	attemptsUsed: Record<string, number>;
	status: Record<string, number>;
	images: { files: number; expected: number; missing: number; orphans: number; tempFiles: number; orphanSamples: string[] };
	backoff: { retries: number; violations: number; samples: string[] };
}

async function listFiles(dir: string): Promise<string[]> {
	const out: string[] = [];
	async function walk(current: string) {
		let entries;
		try {
			entries = await readdir(current, { withFileTypes: true });
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
			throw error;
		}
		for (const entry of entries) {
			const full = path.join(current, entry.name);
			if (entry.isDirectory()) await walk(full);
			else out.push(path.relative(dir, full));
		}
	}
	await walk(dir);
	return out;
}

export async function checkOutcome(sql: Sql, imageDir: string): Promise<Outcome> {
	const status = Object.fromEntries(
		(await sql<{ status: string; n: number }[]>`select status, count(*)::int as n from image_generations group by 1`).map(
			(r) => [r.status, r.n]
		)
	);
	const [g] = await sql<{ generations: number; completed: number; lost: number; twice: number }[]>`
		select count(*)::int as generations,
		       count(*) filter (where g.status = 'completed' and j.status = 'completed')::int as completed,
		       count(*) filter (where g.status <> 'completed' or j.status is distinct from 'completed')::int as lost,
		       count(*) filter (where (select count(*) from jsonb_array_elements(g.history) h
		                               where h ->> 'status' = 'completed') > 1)::int as twice
		from image_generations g left join job_queue j on j.id = g.job_id`;
	const [a] = await sql<{ twice: number; claims: number; rerun: number; maxattempts: number }[]>`
		select (select count(*)::int from (select job_id from chaos_job_audit where new_status = 'completed'
		                                   group by job_id having count(*) > 1) d) as twice,
		       coalesce(sum(claim_count), 0)::int as claims,
		       count(*) filter (where claim_count > 1)::int as rerun,
		       coalesce(max(attempts), 0)::int as maxattempts
		from job_queue`;

	// Every way a running job went back to pending: a snooze gives its attempt back, the reaper marks
	// lease_expired, anything else is a recorded failure whose scheduled_at is its backoff.
	const returns = await sql<
		{ job_id: string; kind: string; attempts: number; failed_at: Date; scheduled_at: Date; next_claim: Date | null; status: number | null; retry_after: number | null }[]
	>`
		select r.job_id, r.attempts, r.at as failed_at, r.scheduled_at,
		       case when r.attempts < p.attempts then 'snooze'
		            when r.error_details ->> 'reason' = 'lease_expired' then 'reap'
		            else 'failure' end as kind,
		       (r.error_details ->> 'status')::int as status,
		       (r.error_details ->> 'retryAfterSeconds')::numeric::float8 as retry_after,
		       (select min(n.at) from chaos_job_audit n
		        where n.job_id = r.job_id and n.seq > r.seq and n.new_status = 'processing') as next_claim
		from chaos_job_audit r
		join lateral (select attempts from chaos_job_audit p where p.job_id = r.job_id and p.seq < r.seq
		              and p.new_status = 'processing' order by p.seq desc limit 1) p on true
		where r.old_status = 'processing' and r.new_status = 'pending'`;
	const samples: string[] = [];
	let violations = 0;
	let retries = 0;
	for (const row of returns) {
		if (row.kind !== 'failure') continue;
		retries++;
		// 0002's compute_backoff: 5 s x 2^(attempt-1), -20% jitter at most; or the server's Retry-After.
		const minimum = row.retry_after ?? 5 * 2 ** (Math.max(1, row.attempts) - 1) * 0.8;
		const scheduledAfter = (row.scheduled_at.getTime() - row.failed_at.getTime()) / 1000;
		const ranAfter = row.next_claim ? (row.next_claim.getTime() - row.failed_at.getTime()) / 1000 : Infinity;
		// 50 ms of slack: the audit's clock_timestamp() is taken a moment after the row's now().
		if (scheduledAfter < minimum - 0.05 || ranAfter < minimum - 0.05) {
			violations++;
			if (samples.length < 5) {
				samples.push(`${row.job_id}: attempt ${row.attempts}, needed ${minimum}s, scheduled +${scheduledAfter.toFixed(2)}s, ran +${ranAfter.toFixed(2)}s`);
			}
		}
	}

	const attemptsUsed = Object.fromEntries(
		(await sql<{ attempts: number; n: number }[]>`select attempts, count(*)::int as n from job_queue group by 1 order by 1`).map(
			(r) => [String(r.attempts), r.n]
		)
	);
	const [f] = await sql<{ exhausted: number; early: number }[]>`
		select count(*) filter (where attempts >= max_attempts)::int as exhausted,
		       count(*) filter (where attempts < max_attempts)::int as early
		from job_queue where status = 'failed'`;
	const expected = new Set<string>();
	const paths = await sql<{ image_path: string; thumbnail_path: string }[]>`
		select image_path, thumbnail_path from image_generations where status = 'completed'`;
	for (const row of paths) {
		expected.add(row.image_path);
		expected.add(row.thumbnail_path);
	}
	const files = await listFiles(imageDir);
	const temp = files.filter((f) => f.endsWith('.tmp'));
	const images = files.filter((f) => !f.endsWith('.tmp'));
	const present = new Set(images);
	const orphans = images.filter((f) => !expected.has(f));

	return {
		generations: g!.generations,
		completed: g!.completed,
		lost: g!.lost,
		jobsCompletedTwice: a!.twice,
		generationsCompletedTwice: g!.twice,
		claims: a!.claims,
		rerunJobs: a!.rerun,
		reaped: returns.filter((r) => r.kind === 'reap').length,
		failedAttempts: retries,
		snoozes: returns.filter((r) => r.kind === 'snooze').length,
		maxAttemptsUsed: a!.maxattempts,
		attemptsUsed,
		failedExhausted: f!.exhausted,
		failedEarly: f!.early,
		status,
		images: {
			files: images.length,
			expected: expected.size,
			missing: [...expected].filter((f) => !present.has(f)).length,
			orphans: orphans.length,
			tempFiles: temp.length,
			orphanSamples: [...orphans, ...temp].slice(0, 5)
		},
		backoff: { retries, violations, samples }
	};
}
