// The group page's actions and the generate form's group path, called as SvelteKit calls them:
// keep one and delete the others, vary one, cancel the rest; the history load's group summaries.
import { isActionFailure, isHttpError, isRedirect } from '@sveltejs/kit';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import type { AppUser } from '$lib/server/auth/user';
import type { Services } from '$lib/server/runtime';
import { runWorkerForBudget } from '$lib/server/worker/budgeted';
import { actions as generateActions } from '$routes/(app)/generate/+page.server';
import { actions as groupActions, load as groupLoad } from '$routes/(app)/groups/[id]/+page.server';
import { load as historyLoad } from '$routes/(app)/history/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

let db: TestDatabase;
let services: Services;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, 'app');
	alice = await signedInUser(services);
	bob = await signedInUser(services);
});
afterAll(async () => {
	await services.events.close();
	await db.drop();
});
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_groups`;
	await db.sql`delete from generation_usage`;
	await db.sql`delete from job_queue`;
});

type Outcome = { failure?: { status: number; data: Record<string, unknown> }; redirect?: string; httpStatus?: number };

async function post(action: (event: never) => unknown, user: AppUser, fields: Record<string, string | string[]>, params: Record<string, string> = {}): Promise<Outcome> {
	const body = new FormData();
	for (const [name, value] of Object.entries(fields)) for (const one of [value].flat()) body.append(name, one);
	const url = new URL('http://localhost/form');
	try {
		const result = await action({ request: new Request(url, { method: 'POST', body }), url, params, locals: { services, user } } as never);
		if (isActionFailure(result)) return { failure: { status: result.status, data: result.data as unknown as Record<string, unknown> } };
		throw new Error(`no redirect: ${JSON.stringify(result)}`);
	} catch (thrown) {
		if (isRedirect(thrown)) return { redirect: thrown.location };
		if (isHttpError(thrown)) return { httpStatus: thrown.status };
		throw thrown;
	}
}
const work = () => runWorkerForBudget({ sql: db.sql, handlers: services.handlers, trigger: 'manual', budgetMs: 20_000, concurrency: 2, leaseSeconds: 30 });
const form = { prompt: 'a lighthouse in a storm', model_id: 'local/preview', size: '512x512', width: '', height: '', seed_mode: 'fixed', seed: '40', negative_prompt: '' };
const groupIdOf = (outcome: Outcome) => /^\/groups\/([0-9a-f-]{36})$/.exec(outcome.redirect ?? '')![1]!;

test('the generate form with a compared model and 2 per model starts a group and opens its page', async () => {
	const outcome = await post(generateActions.generate!, alice.user, { ...form, variations: '2', compare_models: ['local/detailed'], idempotency_key: 'form-1' });
	const id = groupIdOf(outcome);
	const rows = await db.sql`select model_id, seed from image_generations where group_id = ${id} order by group_position`;
	expect(rows.map((r) => `${r.model_id}:${r.seed}`)).toEqual(['local/preview:40', 'local/preview:41', 'local/detailed:40', 'local/detailed:41']);
	// A double click: the same key, the same group.
	expect(groupIdOf(await post(generateActions.generate!, alice.user, { ...form, variations: '2', compare_models: ['local/detailed'], idempotency_key: 'form-1' }))).toBe(id);
	// The model chosen is not compared with itself; 1 per model and nothing compared is a single generation.
	expect((await post(generateActions.generate!, alice.user, { ...form, variations: '1', compare_models: ['local/preview'] })).redirect).toMatch(/^\/generations\//);
	expect((await post(generateActions.generate!, alice.user, { ...form, variations: '7' })).failure).toMatchObject({ status: 400, data: { field: 'variations' } });
});

test('keep one, then delete the others: their rows and images go, the kept one stays', async () => {
	const { group_id: id } = await services.generations.groups.start(alice.user, { prompt: 'p', model_ids: ['local/preview'], variations: 3, width: 256, height: 256, seed: 1, negative_prompt: null, idempotency_key: null });
	await work();
	const members = await db.sql`select id, image_path from image_generations where group_id = ${id} order by group_position`;
	expect((await post(groupActions.discardOthers!, alice.user, {}, { id })).failure?.status).toBe(400);
	expect((await post(groupActions.keep!, bob.user, { generation_id: members[1]!.id }, { id })).httpStatus).toBe(404);
	expect((await post(groupActions.keep!, alice.user, { generation_id: members[1]!.id }, { id })).redirect).toBe(`/groups/${id}`);
	expect((await db.sql`select kept_generation_id from generation_groups where id = ${id}`)[0]!.kept_generation_id).toBe(members[1]!.id);
	expect((await post(groupActions.discardOthers!, bob.user, {}, { id })).httpStatus).toBe(404);
	expect((await post(groupActions.discardOthers!, alice.user, {}, { id })).redirect).toBe(`/groups/${id}`);
	expect((await db.sql`select id from image_generations where group_id = ${id}`).map((r) => r.id)).toEqual([members[1]!.id]);
	expect(await services.storage.get(members[0]!.image_path)).toBeNull();
	expect(await services.storage.get(members[1]!.image_path)).not.toBeNull();
	const page = (await groupLoad({ params: { id }, locals: { services, user: alice.user } } as never)) as { group: { kept_generation_id: string; members: unknown[] } };
	expect(page.group).toMatchObject({ kept_generation_id: members[1]!.id, members: [expect.anything()] });
});

test('vary one: a new group of four with its model and prompt; cancel the rest cancels only the unfinished', async () => {
	const { group_id: id } = await services.generations.groups.start(alice.user, { prompt: 'dunes', model_ids: ['local/preview', 'local/detailed'], variations: 1, width: 256, height: 256, seed: 9, negative_prompt: 'fog', idempotency_key: null });
	const [, detailed] = await db.sql`select id from image_generations where group_id = ${id} order by group_position`;
	const varied = groupIdOf(await post(groupActions.vary!, alice.user, { generation_id: detailed!.id, idempotency_key: 'vary-1' }, { id }));
	const rows = await db.sql`select model_id, prompt, negative_prompt, width from image_generations where group_id = ${varied}`;
	expect(rows).toHaveLength(4);
	expect(rows.every((r) => r.model_id === 'local/detailed' && r.prompt === 'dunes' && r.negative_prompt === 'fog' && r.width === 256)).toBe(true);

	await db.sql`update image_generations set status = 'failed', started_at = now() where id = ${detailed!.id}`;
	expect((await post(groupActions.cancel!, alice.user, {}, { id })).redirect).toBe(`/groups/${id}`);
	const statuses = await db.sql`select status from image_generations where group_id = ${id} order by group_position`;
	expect(statuses.map((r) => r.status)).toEqual(['cancelled', 'failed']);

	const history = (await historyLoad({ url: new URL('http://localhost/history'), locals: { services, user: alice.user } } as never)) as { groups: Record<string, { status: string; members: number }> };
	expect(history.groups[id]).toMatchObject({ status: 'failed', members: 2 });
	expect(history.groups[varied]).toMatchObject({ status: 'queued', members: 4 });
});
