import { startEmbeddedPostgres } from './src/lib/server/db/embedded';
import { createSql } from './src/lib/server/db/client';
const server = await startEmbeddedPostgres({ dataDir: '/tmp/perf-admin/data', database: 'postgres' });
const sql = createSql(server.url, { max: 1 });
const registered = ['generate-image'];
try {
	const rows = await sql`explain (analyze)
		with live as (
			select job_type, count(*) filter (where status = 'pending')::int as pending,
			       count(*) filter (where status = 'processing')::int as processing
			from public.job_queue where status in ('pending', 'processing')
			group by job_type
		), types as (
			select job_type from live
			union select unnest(${registered}::text[])
			union select job_type from public.job_queue_paused_types
			union select job_type from public.job_queue where created_at > now() - interval '1 day'
		)
		select t.job_type, t.job_type = any (${registered}::text[]) as registered,
		       p.job_type is not null as paused, p.paused_at, u.email as paused_by_email, p.reason,
		       coalesce(l.pending, 0) as pending, coalesce(l.processing, 0) as processing
		from types t
		left join live l on l.job_type = t.job_type
		left join public.job_queue_paused_types p on p.job_type = t.job_type
		left join auth.users u on u.id = p.paused_by
		order by t.job_type`;
	console.log(rows.map((r: any) => r['QUERY PLAN']).join('\n'));
} finally { await sql.end(); await server.stop(); }
