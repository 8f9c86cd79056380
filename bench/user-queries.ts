// The queries Picture runs as a signed-in user (role authenticated with the user's claims, so row
// level security applies: withUser), and what a Supabase client could run through PostgREST under
// the same policies, at 1,000,000 jobs: each must finish well inside the authenticator role's 8 s
// statement_timeout on the platform. Server-side times (EXPLAIN ANALYZE), the slowest reported.
import type { Sql } from '../src/lib/server/db/client';
import { listGenerations, getGeneration } from '../src/lib/server/generations/read';
import type { AppUser } from '../src/lib/server/auth/user';
import { insertHistory } from './scale';
import { emit, log, median, QUICK, round, type Measurement } from './support';

const JOBS = QUICK ? 100_000 : 1_000_000;
const HEAVY_GENERATIONS = QUICK ? 5_000 : 50_000;
const USERS = 1_000;

/** One user with a long history, a thousand with a little, every generation's job in job_queue. */
async function seed(sql: Sql): Promise<{ heavy: AppUser; light: AppUser }> {
	await insertHistory(sql, JOBS);
	const users = await sql<{ id: string; email: string }[]>`
		insert into auth.users (email) select 'rls' || n || '@picture.test' from generate_series(1, ${USERS}::int) n returning id, email`;
	const ids = users.map((u) => u.id);
	await sql`
		with made as (
			insert into public.image_generations (user_id, prompt, model_id, width, height, seed, status, progress, image_path,
			                                      created_at, started_at, run_started_at, completed_at)
			select case when g <= ${HEAVY_GENERATIONS}::int then ${ids[0]!}::uuid else (${ids}::uuid[])[1 + g % ${USERS}::int] end,
			       'a picture ' || g, 'local/preview', 512, 512, g, 'completed', 100, 'x/' || g || '.png',
			       now() - g * interval '1 second', now() - g * interval '1 second', now() - g * interval '1 second', now() - g * interval '1 second' + interval '2 seconds'
			from generate_series(1, ${HEAVY_GENERATIONS * 2}::int) g
			returning id, user_id, created_at
		)
		insert into public.job_queue (job_type, payload, status, attempts, created_by, created_at, completed_at, started_at)
		select 'generate-image', jsonb_build_object('generation_id', id), 'completed', 1, user_id, created_at, created_at, created_at from made`;
	await sql`vacuum analyze`;
	const user = (u: { id: string; email: string }): AppUser => ({
		id: u.id,
		email: u.email,
		isAdmin: false,
		isOperator: false,
		sessionId: null,
		claims: { sub: u.id, role: 'authenticated', email: u.email }
	});
	return { heavy: user(users[0]!), light: user(users[1]!) };
}

/** Milliseconds the server spent on one statement run as the user, under their policies. */
async function asUserMs(sql: Sql, user: AppUser, statement: string, params: unknown[] = []): Promise<number> {
	return sql.begin(async (tx) => {
		await tx`select set_config('request.jwt.claims', ${JSON.stringify(user.claims)}, true), set_config('role', 'authenticated', true)`;
		const [row] = await tx.unsafe(`explain (analyze, format json) ${statement}`, params as never[]);
		return (row!['QUERY PLAN'] as { 'Execution Time': number }[])[0]!['Execution Time'];
	}) as Promise<number>;
}

export const userQueries: Measurement = {
	names: ['rls.user_queries.slowest_ms'],
	async run(server) {
		const db = await server.freshDatabase('rls', { max: 4 });
		try {
			const started = Date.now();
			const { heavy, light } = await seed(db.sql);
			log(`rls: ${JOBS} history jobs and ${HEAVY_GENERATIONS * 2} generations in ${Date.now() - started} ms`);
			// The app's own calls, end to end (a warm-up first), then the raw statements a client could send.
			const page = await listGenerations(db.sql, heavy, { limit: 24 });
			let cursor = page.next_cursor;
			for (let i = 0; i < 50 && cursor; i++) cursor = (await listGenerations(db.sql, heavy, { limit: 100, cursor })).next_cursor;
			const timings: Record<string, number[]> = {};
			const time = async (label: string, run: () => Promise<unknown>) => {
				const samples: number[] = [];
				for (let i = 0; i < 5; i++) {
					const t0 = performance.now();
					await run();
					samples.push(performance.now() - t0);
				}
				timings[label] = samples;
			};
			await time('app: first history page (heavy user)', () => listGenerations(db.sql, heavy, { limit: 24 }));
			await time('app: a deep history page (heavy user)', () => listGenerations(db.sql, heavy, { limit: 24, cursor }));
			await time('app: one generation', () => getGeneration(db.sql, heavy, page.items[0]!.id));
			await time("app: another user's generation (none)", () => getGeneration(db.sql, light, page.items[0]!.id));
			const server_: Record<string, number> = {};
			for (const [label, user, statement] of [
				['client: select * from job_queue (own jobs)', heavy, 'select * from public.job_queue order by created_at desc limit 100'],
				['client: count own jobs', heavy, 'select count(*) from public.job_queue'],
				['client: count own generations', heavy, 'select count(*) from public.image_generations'],
				['client: a light user counts their jobs', light, 'select count(*) from public.job_queue'],
				["client: another user's jobs by id", light, `select * from public.job_queue where payload ->> 'generation_id' = '${page.items[0]!.id}'`]
			] as const) {
				server_[label] = median([await asUserMs(db.sql, user, statement), await asUserMs(db.sql, user, statement), await asUserMs(db.sql, user, statement)]);
			}
			const app = Object.fromEntries(Object.entries(timings).map(([label, samples]) => [label, round(median(samples), 2)]));
			const all = { ...app, ...Object.fromEntries(Object.entries(server_).map(([k, v]) => [k, round(v, 2)])) };
			const [slowest, ms] = Object.entries(all).sort((a, b) => b[1] - a[1])[0]!;
			emit({
				name: 'rls.user_queries.slowest_ms',
				value: ms,
				unit: 'ms',
				slowest: slowest,
				budget_ms: 8000,
				jobs: JOBS + HEAVY_GENERATIONS * 2,
				heavy_user_generations: HEAVY_GENERATIONS,
				statistic: 'median of 5 (app calls, wall time) or 3 (client statements, server time)',
				each_ms: all
			});
		} finally {
			await db.drop();
		}
	}
};
