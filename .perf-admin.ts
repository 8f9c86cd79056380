// Scratch: times the worker/models/users console queries against 1,000,000 jobs. Not part of the repo.
import { mkdtemp, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from './src/lib/server/db/embedded';
import { createSql } from './src/lib/server/db/client';
import { migrate, readMigrations } from './src/lib/server/db/migrate';
import { lastRunByTrigger, listJobTypes, listWorkerRuns, previewCancelAll, previewPurge } from './src/lib/server/admin/worker';
import { listModelStats } from './src/lib/server/admin/models';
import { listUsers } from './src/lib/server/admin/users';

import { existsSync } from 'node:fs';
const dir = '/tmp/perf-admin/data';
const fresh = !existsSync(path.join(dir, 'postgres'));
await (await import('node:fs/promises')).mkdir(dir, { recursive: true });
await chmod('/tmp/perf-admin', 0o755);
await chmod(dir, 0o755);
const server = await startEmbeddedPostgres({ dataDir: dir, database: 'postgres', settings: { fsync: 'off', synchronous_commit: 'off' } });
const sql = createSql(server.url, { max: 4 });
try { await (async () => {
	if (fresh) {
	await migrate(sql, await readMigrations(path.resolve('supabase/migrations')));
	console.log('seeding');
	await sql`insert into auth.users (email, created_at) select 'u' || i || '@example.test', now() - make_interval(days => i % 300) from generate_series(1, 2000) i`;
	await sql`
		insert into job_queue (job_type, status, payload, created_at, scheduled_at, started_at, completed_at, attempts, created_by)
		select case when i % 20 = 0 then 'noop' when i % 97 = 0 then 'report' else 'generate-image' end,
		       case when i % 200 = 0 then 'pending' when i % 33 = 0 then 'failed' when i % 41 = 0 then 'cancelled' else 'completed' end,
		       jsonb_build_object('i', i),
		       now() - make_interval(secs => i * 2.6), now() - make_interval(secs => i * 2.6),
		       now() - make_interval(secs => i * 2.6 - 1),
		       case when i % 200 = 0 then null else now() - make_interval(secs => i * 2.6 - 5) end, 1, null
		from generate_series(1, 1000000) i`;
	const models = ['local/preview', 'local/detailed', 'black-forest-labs/flux-schnell', 'black-forest-labs/flux-dev', 'stability-ai/sdxl'];
	await sql`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, image_path, created_at, started_at, completed_at, predict_time_seconds)
		select (select id from auth.users order by id offset (i % 2000) limit 1), 'p', (${models}::text[])[1 + i % 5], 512, 512, 1,
		       case when i % 30 = 0 then 'failed' else 'completed' end, case when i % 30 = 0 then null else 'x.png' end,
		       now() - make_interval(secs => i * 2.6), now() - make_interval(secs => i * 2.6), now() - make_interval(secs => i * 2.6 - 3 - i % 7), 2.5
		from generate_series(1, 1000000) i`;
	await sql`insert into worker_runs (worker_id, trigger, started_at, last_seen_at, finished_at, processed)
		select 'w', case when i % 500 = 0 then 'manual' else 'cron' end, now() - make_interval(mins => i), now() - make_interval(mins => i), now() - make_interval(mins => i) + interval '40 s', 20
		from generate_series(1, 50000) i`;
	await sql`vacuum analyze`;
	}
	for (const q of (process.env.SETUP ?? '').split(';;').filter(Boolean)) await sql.unsafe(q);
	if (process.env.REPEAT) {
		for (const q of process.env.REPEAT.split(';;')) {
			const times: number[] = [];
			for (let i = 0; i < 6; i++) { const t = performance.now(); await sql.unsafe(q); times.push(performance.now() - t); }
			console.log(q.slice(0, 60), times.map((t) => t.toFixed(0)).join(' '));
		}
		return;
	}
	for (const q of (process.env.EXPLAIN ?? '').split(';;').filter(Boolean)) {
		const rows = await sql.unsafe(`explain (analyze, buffers) ${q}`);
		console.log(rows.map((r: any) => r['QUERY PLAN']).join('\n'));
	}
	if (process.env.EXPLAIN) return;
	const time = async (name: string, run: () => Promise<unknown>) => {
		await run();
		const samples: number[] = [];
		for (let i = 0; i < 5; i++) {
			const t = performance.now();
			await run();
			samples.push(performance.now() - t);
		}
		samples.sort((a, b) => a - b);
		console.log(JSON.stringify({ name, median_ms: +samples[2]!.toFixed(1), max_ms: +samples[4]!.toFixed(1) }));
	};
	const [{ id: someUser }] = await sql`select id from auth.users order by created_at desc, id desc offset 30 limit 1`;
	await time('worker.runs', () => listWorkerRuns(sql, {}));
	await time('worker.runs manual', () => listWorkerRuns(sql, { trigger: 'manual' }));
	await time('worker.runs older page', () => listWorkerRuns(sql, { before: '25000' }));
	await time('worker.lastRuns', () => lastRunByTrigger(sql));
	await time('worker.jobTypes', () => listJobTypes(sql, ['generate-image']));
	await time('worker.cancelPreview', () => previewCancelAll(sql, true));
	await time('worker.purgePreview 30d', () => previewPurge(sql, '30'));
	await time('worker.purgePreview 1d', () => previewPurge(sql, '1'));
	await sql`delete from model_generation_totals`;
	{ const t = performance.now(); await listModelStats(sql); console.log(JSON.stringify({ name: 'models.stats daily recount', ms: +(performance.now() - t).toFixed(1) })); }
	await time('models.stats', () => listModelStats(sql));
	await time('users.page', () => listUsers(sql, {}));
	await time('users.page 2', () => listUsers(sql, { before: someUser }));
	await time('users.search', () => listUsers(sql, { query: 'u19' }));
})(); } finally {
	await sql.end();
	await server.stop();
}
