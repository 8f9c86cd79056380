import { afterAll, beforeAll, expect, test } from 'vitest';
import { enqueueJob } from '$lib/server/queue';
import { createTestDatabase, type TestDatabase } from '../../support/db';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(() => db.drop());

test('enqueue_job as the seed calls it returns a uuid', async () => {
	const [row] = await db.sql`select enqueue_job('generate-image'::text, '{"test": true}'::jsonb, 0, now(), 3) as id`;
	expect(row!.id).toMatch(/^[0-9a-f-]{36}$/);
	const id = await enqueueJob(db.sql, 'x', { payload: { a: 1 } });
	const [job] = await db.sql`select * from job_queue where id = ${id}`;
	expect(job!.payload).toEqual({ a: 1 });
});
