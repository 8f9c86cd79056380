// Shared pieces of the queue integration tests (not a test file itself: vitest runs *.test.ts only).
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Sql } from '../../src/lib/server/db/client';
import { claimJobs, enqueueJob, type EnqueueOptions, type Job } from '../../src/lib/server/queue';
import { createTestDatabase, type TestDatabase } from './db';

/**
 * Gives the calling test file its own freshly migrated database and (unless emptyEach is false)
 * empties the queue before each test. Read `.sql` inside tests (it is set in beforeAll).
 */
export function useQueueDatabase(
	options: { max?: number; emptyEach?: boolean } = {}
): { readonly sql: Sql; readonly db: TestDatabase } {
	let db: TestDatabase | undefined;
	beforeAll(async () => {
		db = await createTestDatabase({ max: options.max });
	});
	afterAll(() => db?.drop());
	if (options.emptyEach !== false) {
		beforeEach(async () => {
			// cascade: later migrations point at job_queue (image_generations.job_id).
			await db!.sql`truncate public.job_queue, public.job_queue_paused_types, public.job_queue_lanes cascade`;
		});
	}
	return {
		get sql() {
			return db!.sql;
		},
		get db() {
			return db!;
		}
	};
}

/** The whole row as JSON text, for "changed nothing" comparisons (timestamps included). */
export async function rowSnapshot(sql: Sql, id: string): Promise<string> {
	const [row] = await sql<{ row: string }[]>`select to_jsonb(j)::text as row from public.job_queue j where id = ${id}`;
	if (!row) throw new Error(`job ${id} not found`);
	return row.row;
}

export async function getJob(sql: Sql, id: string): Promise<Job> {
	const [row] = await sql<Job[]>`select * from public.job_queue where id = ${id}`;
	if (!row) throw new Error(`job ${id} not found`);
	return row;
}

/** Enqueues one job and claims it (it must be the only due job of its type). */
export async function enqueueAndClaim(
	sql: Sql,
	jobType: string,
	workerId: string,
	options: EnqueueOptions & { leaseSeconds?: number } = {}
): Promise<Job> {
	const id = await enqueueJob(sql, jobType, options);
	const jobs = await claimJobs(sql, { workerId, jobTypes: [jobType], leaseSeconds: options.leaseSeconds ?? 30 });
	if (jobs.length !== 1 || jobs[0]!.id !== id) throw new Error(`expected to claim ${id}, got ${JSON.stringify(jobs)}`);
	return jobs[0]!;
}

/** Moves a job's lease into the past, as if its worker had stopped renewing it. */
export async function expireLease(sql: Sql, id: string): Promise<void> {
	await sql`update public.job_queue set locked_until = now() - interval '1 second' where id = ${id}`;
}

/** Makes a job in backoff (or snoozed) due now, instead of waiting for it. */
export async function makeDue(sql: Sql, id: string): Promise<void> {
	await sql`update public.job_queue set scheduled_at = now() where id = ${id}`;
}

/** Seconds between two timestamps set in the same statement (so exact, with no clock skew). */
export function secondsBetween(later: Date, earlier: Date): number {
	return (later.getTime() - earlier.getTime()) / 1000;
}

/** The error a promise rejects with (fails if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
	try {
		await promise;
	} catch (error) {
		return error as Error & { code?: string };
	}
	throw new Error('expected the call to fail, but it succeeded');
}
