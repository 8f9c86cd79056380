// A job table shaped for the console's search, shared by bench/console-search.ts and
// tests/integration/console/job-search-scale.test.ts: `rows` generate-image jobs over `users` owners,
// each with its generation and prompt, 5% failed with an error, a few rare words to find.
//   prompts: "a lighthouse at dusk, scene 123" (five subjects, four times of day); every 33,331st
//            (from the 17th) also says "zanzibar"
//   errors:  "error 0" .. "error 6"; every 9,973rd failure "quokka exploded"
//   e-mail:  user 0 is marigold.finch@rare.example, the others user-<n>@example.test
import type { Sql } from '../src/lib/server/db/client';

/** Drops the tables' secondary indexes, runs the insert, and builds them again: minutes become seconds. */
async function withoutIndexes(sql: Sql, tables: string[], insert: () => Promise<unknown>) {
	const indexes = await sql<{ name: string; definition: string }[]>`
		select i.relname as name, pg_get_indexdef(x.indexrelid) as definition
		from pg_index x join pg_class i on i.oid = x.indexrelid
		where x.indrelid = any (${tables.map((t) => `public.${t}`)}::regclass[])
		  and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`;
	for (const index of indexes) await sql.unsafe(`drop index public."${index.name}"`);
	await insert();
	await sql.begin(async (tx) => {
		await tx`set local maintenance_work_mem = '256MB'`;
		for (const index of indexes) await tx.unsafe(index.definition);
	});
}

export async function seedSearchCorpus(sql: Sql, rows: number, users = 2000): Promise<void> {
	await sql`
		insert into auth.users (id, email)
		select md5('user' || k)::uuid, case when k = 0 then 'marigold.finch@rare.example' else 'user-' || k || '@example.test' end
		from generate_series(0, ${users - 1}) as k`;
	await withoutIndexes(sql, ['job_queue', 'image_generations'], async () => {
		await sql`
			insert into job_queue (id, job_type, payload, status, attempts, created_by, created_at, scheduled_at, completed_at, error_message)
			select md5('job' || i)::uuid, 'generate-image',
			       jsonb_build_object('generation_id', md5('gen' || i)::uuid, 'model_id', 'local/preview'),
			       s.status, 1, md5('user' || (i % ${users}))::uuid, t, t, case when s.status = 'pending' then null else t + interval '5 seconds' end,
			       case when s.status = 'failed' then case when i % 9973 = 0 then 'quokka exploded' else 'error ' || (i % 7) end end
			from generate_series(1, ${rows}) as i,
			     lateral (select now() - make_interval(secs => (i / 3) * 10) as t) as c,
			     lateral (select case when i % 100 < 90 then 'completed' when i % 100 < 95 then 'failed' when i % 100 < 99 then 'cancelled' else 'pending' end as status) as s`;
		await sql`
			insert into image_generations (id, user_id, prompt, model_id, width, height, seed, status, job_id, image_path, created_at)
			select md5('gen' || i)::uuid, md5('user' || (i % ${users}))::uuid,
			       (array['a lighthouse', 'a harbour', 'a forest', 'a city', 'a desert'])[1 + i % 5] || ' at ' ||
			       (array['dawn', 'dusk', 'noon', 'night'])[1 + (i / 5) % 4] || ', scene ' || i ||
			       case when i % 33331 = 17 then ', with a zanzibar parrot' else '' end,
			       'local/preview', 512, 512, 1, 'completed', md5('job' || i)::uuid, 'x.png', now() - make_interval(secs => (i / 3) * 10)
			from generate_series(1, ${rows}) as i`;
	});
	await sql`vacuum analyze job_queue`;
	await sql`vacuum analyze image_generations`;
	await sql`analyze auth.users`;
}
