// SCRATCH (deleted after measuring): WAL written per job through enqueue -> claim -> complete, per index variant.
import { afterAll, beforeAll, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db';

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(() => db.drop());

const ALL = ['job_queue_created_at_id_idx', 'job_queue_scheduled_at_id_idx', 'job_queue_priority_id_idx', 'job_queue_attempts_id_idx', 'job_queue_status_created_at_idx', 'job_queue_failed_completed_at_idx', 'job_queue_lease_expired_idx'];
async function variant(name: string) {
	for (const index of ALL) await db.sql.unsafe(`drop index if exists ${index}`);
	const full = `create index job_queue_created_at_id_idx on job_queue (created_at, id);
		create index job_queue_status_created_at_idx on job_queue (status, created_at, id);
		create index job_queue_failed_completed_at_idx on job_queue (completed_at) where status = 'failed';
		create index job_queue_lease_expired_idx on job_queue (updated_at) where error_details ->> 'reason' = 'lease_expired';`;
	if (name === 'B') await db.sql.unsafe(`${full} create index job_queue_scheduled_at_id_idx on job_queue (scheduled_at, id); create index job_queue_priority_id_idx on job_queue (priority, id); create index job_queue_attempts_id_idx on job_queue (attempts, id);`);
	if (name === 'C') await db.sql.unsafe(`${full} create index job_queue_scheduled_at_id_idx on job_queue (scheduled_at, id) where status in ('pending','processing'); create index job_queue_priority_id_idx on job_queue (priority, id) where status in ('pending','processing'); create index job_queue_attempts_id_idx on job_queue (attempts, id) where status in ('pending','processing');`);
	if (name === 'D') await db.sql.unsafe(full);
}

test('wal per job', async () => {
	for (const round of [1, 2]) {
		for (const name of ['A', 'B', 'C', 'D']) {
			await db.sql`delete from job_queue`;
			await variant(name);
			await db.sql`vacuum full job_queue`;
			await db.sql`checkpoint`;
			const [{ lsn: before }] = await db.sql`select pg_current_wal_lsn() as lsn`;
			const started = performance.now();
			for (let i = 0; i < 40; i++) {
				await db.sql`insert into job_queue (job_type, payload) select 'bench', jsonb_build_object('n', g) from generate_series(1, 500) g`;
				const claimed = await db.sql`select id, claim_count from claim_jobs('w', 500, 30)`;
				await db.sql`select count(*) from complete_jobs(${claimed.map((r) => r.id)}::uuid[], 'w', ${claimed.map((r) => r.claim_count)}::int[])`;
			}
			const ms = performance.now() - started;
			const [{ bytes }] = await db.sql`select pg_wal_lsn_diff(pg_current_wal_lsn(), ${before}::pg_lsn)::bigint as bytes`;
			console.log(`[walcost] round ${round} ${name}: ${(Number(bytes) / 20000).toFixed(0)} WAL bytes/job, ${(20000 / (ms / 1000)).toFixed(0)} jobs/s (single connection)`);
		}
	}
}, 600_000);
