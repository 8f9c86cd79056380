// A start's cost estimate (generation_cost_estimate, 0027 / 0035) is the price x the median model time
// of the model's last 50 completed runs. It must not depend on how many of the model's generations
// are queued: a burst of starts is the newest generations of a model, none of them completed.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';

let db: TestDatabase;
let userId: string;
const MODEL = 'black-forest-labs/flux-schnell';

beforeAll(async () => {
	db = await createTestDatabase();
	userId = (await createUser(db.sql)).id;
	await db.sql`update models set cost_per_second = 0.01 where id = ${MODEL}`;
});
afterAll(() => db.drop());

/** Completed runs of MODEL: created `createdAgoS` seconds ago, completed `completedAgoS` ago. */
async function completed(runs: Array<{ seconds: number; createdAgoS: number; completedAgoS: number }>) {
	for (const run of runs) {
		await db.sql`
			insert into image_generations (user_id, prompt, model_id, width, height, seed, status, image_path,
			                               predict_time_seconds, created_at, started_at, completed_at)
			values (${userId}, 'done', ${MODEL}, 512, 512, 1, 'completed', 'x.png', ${run.seconds},
			        now() - make_interval(secs => ${run.createdAgoS}), now() - make_interval(secs => ${run.createdAgoS}),
			        now() - make_interval(secs => ${run.completedAgoS}))`;
	}
}

async function queued(count: number) {
	await db.sql`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status)
		select ${userId}, 'waiting ' || n, ${MODEL}, 512, 512, 1, 'queued' from generate_series(1, ${count}::int) n`;
}

const estimate = async () => Number((await db.sql`select public.generation_cost_estimate(${MODEL}, 0.01) as e`)[0]!.e);

test('the estimate is the median of the completed runs, whatever is queued after them', async () => {
	await completed([2, 4, 6].map((seconds, i) => ({ seconds, createdAgoS: 600 + i, completedAgoS: 500 + i })));
	expect(await estimate()).toBeCloseTo(0.04, 6);
	await queued(400);
	expect(await estimate()).toBeCloseTo(0.04, 6);
	// Failed and cancelled runs are no evidence of a model's time either.
	await db.sql`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, predict_time_seconds, completed_at)
		values (${userId}, 'failed', ${MODEL}, 512, 512, 1, 'failed', 100, now()), (${userId}, 'cancelled', ${MODEL}, 512, 512, 1, 'cancelled', 100, now())`;
	expect(await estimate()).toBeCloseTo(0.04, 6);
});

test('the last 50 are the 50 most recently completed, not the 50 most recently created', async () => {
	// 30 slow runs created last but finished long ago, and 50 fast runs that finished just now: by
	// creation the newest 50 would be mostly slow.
	await completed(Array.from({ length: 30 }, (_, i) => ({ seconds: 9, createdAgoS: 10 + i, completedAgoS: 400 + i })));
	await completed(Array.from({ length: 50 }, (_, i) => ({ seconds: 1, createdAgoS: 300 + i, completedAgoS: 5 + i })));
	expect(await estimate()).toBeCloseTo(0.01, 6);
});

test('the estimate reads at most 50 index entries, none of the queued, and no table rows', async () => {
	await queued(2_000);
	await db.sql`analyze image_generations`;
	const [row] = await db.sql<{ 'QUERY PLAN': unknown }[]>`
		explain (analyze, format json)
		select g.predict_time_seconds, g.cost_usd from image_generations g
		where g.model_id = ${MODEL} and g.status = 'completed' and g.completed_at is not null
		order by g.completed_at desc limit 50`;
	const scans: Array<Record<string, unknown>> = [];
	const walk = (node: Record<string, unknown>) => {
		if (typeof node['Node Type'] === 'string' && (node['Node Type'] as string).includes('Scan')) scans.push(node);
		for (const child of (node.Plans as Array<Record<string, unknown>> | undefined) ?? []) walk(child);
	};
	walk((row!['QUERY PLAN'] as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan);
	expect(scans).toHaveLength(1);
	expect(scans[0]!['Node Type']).toBe('Index Only Scan');
	expect(scans[0]!['Index Name']).toBe('image_generations_completed_runs_idx');
	expect(scans[0]!['Actual Rows']).toBeLessThanOrEqual(50);
	expect(scans[0]!['Rows Removed by Filter'] ?? 0).toBe(0);
});
