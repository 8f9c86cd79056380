// SCRATCH (deleted after measuring): where the failures page spends its time in an incident.
import { afterAll, beforeAll, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { listFailureGroups } from '../../src/lib/server/admin/failures';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
	await db.sql`
		insert into job_queue (job_type, payload, status, attempts, created_at, completed_at, error_message)
		select 'generate-image', jsonb_build_object('model_id', (array['a','b','c'])[1 + i % 3], 'generation_id', gen_random_uuid()),
		       case when i % 20 = 0 then 'failed' else 'completed' end, 1, now() - make_interval(secs => i * 3),
		       case when i % 20 = 0 then now() - interval '1 hour' else now() - make_interval(secs => i * 3) end,
		       case when i % 20 = 0 then 'error ' || (i % 7) || case when i % 1000 = 0 then ' rare ' || i else '' end end
		from generate_series(1, 1000000) i`;
	await db.sql`vacuum analyze job_queue`;
}, 600_000);
afterAll(() => db.drop());

test('explain', async () => {
	const show = async (text: string) => {
		const rows = await db.sql.unsafe(`explain (analyze, buffers) ${text}`);
		console.log(rows.map((r) => r['QUERY PLAN']).join('\n'));
	};
	await listFailureGroups(db.sql);
	let t = performance.now();
	const r = await listFailureGroups(db.sql);
	console.log('page ms', performance.now() - t, r.total, r.groups.length);
	await show(`select g.message, f.* from unnest(${"array['error 3', 'error 0 rare 1000']"}::text[]) as g(message) cross join lateral (select id, completed_at from failed_jobs_recent where md5(coalesce(error_message, '')) = md5(g.message) and coalesce(error_message, '') = g.message order by completed_at desc limit 5) f`);
	await show(`select coalesce(error_message, '') as message, count(*)::int, count(distinct payload ->> 'model_id')::int, coalesce(array_agg(distinct payload ->> 'model_id') filter (where payload ->> 'model_id' is not null), '{}'), count(distinct created_by)::int, min(completed_at), max(completed_at), (sum(count(*)) over ())::int from public.failed_jobs_recent group by 1 order by 2 desc, 7 desc limit 100`);
}, 600_000);
