// Hostile input against the group form and the group routes, through the app's real hooks: each
// is refused with a 4xx and a message, and leaves every table (groups included) as it was.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { POST as startGeneration } from '$routes/api/generations/+server';
import { DELETE as cancelGroup, GET as getGroup } from '$routes/api/groups/[id]/+server';
import { GET as groupEvents } from '$routes/api/groups/[id]/events/+server';
import { GET as groupZip } from '$routes/api/groups/[id]/zip/+server';
import { actions as groupActions, load as groupLoad } from '$routes/(app)/groups/[id]/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { messageOf, snapshotTables } from '../../support/hostile';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { action, form, sessionCookie, throughHooks, type Route, type Send } from '../../support/through-hooks';

let db: TestDatabase;
let services: Services;
let send: Send;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;
let alicesGroup: string;
let bobsMember: string;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	send = await throughHooks(services);
	alice = await signedInUser(services);
	bob = await signedInUser(services);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_groups`;
	await db.sql`delete from job_queue`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	alicesGroup = (await services.generations.groups.start(alice.user, { prompt: 'hers', model_ids: ['local/preview'], variations: 2, width: 512, height: 512, seed: 1, negative_prompt: null, idempotency_key: null })).group_id;
	const bobs = await services.generations.groups.start(bob.user, { prompt: 'his', model_ids: ['local/preview'], variations: 1, width: 512, height: 512, seed: 1, negative_prompt: null, idempotency_key: null });
	bobsMember = (await db.sql`select id from image_generations where group_id = ${bobs.group_id}`)[0]!.id;
});

const valid = { prompt: 'a lighthouse', models: ['local/preview'], variations: 2, width: 512, height: 512 };
const asAlice = () => sessionCookie(alice.token);
const postJson = (body: unknown) =>
	send('/api/generations', startGeneration as Route, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...asAlice() } });
const get = (path: string, route: Route, id: string) => send(path, route, { params: { id }, headers: asAlice() });
const pageAction = (name: string, id: string, fields: Record<string, string> = {}) =>
	send(`/groups/x?/${name}`, action(groupActions, name), { method: 'POST', body: form(fields), headers: asAlice(), params: { id } });

interface Case {
	name: string;
	run: () => Promise<{ status: number; body: unknown }>;
	status: number;
	message: RegExp;
}

const cases: Case[] = [
	{ name: 'models is an object', run: () => postJson({ ...valid, models: { $ne: null } }), status: 400, message: /1 to 4 models/ },
	{ name: '1,000 models', run: () => postJson({ ...valid, models: Array.from({ length: 1000 }, (_, i) => `m${i}`) }), status: 400, message: /1 to 4 models/ },
	{ name: 'a NUL in a model id', run: () => postJson({ ...valid, models: ['local/preview\u0000'] }), status: 400, message: /name of a model/ },
	{ name: 'a path as a model id', run: () => postJson({ ...valid, models: ['../../etc/passwd'] }), status: 400, message: /no model called/ },
	{ name: 'SQL as a model id', run: () => postJson({ ...valid, models: ["local/preview' or '1'='1"] }), status: 400, message: /no model called/ },
	{ name: 'a nested list of models', run: () => postJson({ ...valid, models: [['local/preview']] }), status: 400, message: /name of a model/ },
	{ name: 'null in the models', run: () => postJson({ ...valid, models: [null] }), status: 400, message: /name of a model/ },
	{ name: 'variations 1e400', run: () => postJson('{"prompt":"x","models":["local/preview"],"variations":1e400,"width":512,"height":512}'), status: 400, message: /Variations must be/ },
	{ name: 'variations -1', run: () => postJson({ ...valid, variations: -1 }), status: 400, message: /Variations must be/ },
	{ name: 'variations as SQL', run: () => postJson({ ...valid, variations: '4; drop table job_queue' }), status: 400, message: /Variations must be/ },
	{ name: 'variations as a list', run: () => postJson({ ...valid, variations: [2] }), status: 400, message: /Variations must be/ },
	{ name: 'variations true', run: () => postJson({ ...valid, variations: true }), status: 400, message: /Variations must be/ },
	{ name: 'a NUL in the prompt', run: () => postJson({ ...valid, prompt: 'a\u0000b' }), status: 400, message: /control character/ },
	{ name: 'a seed past 2^32', run: () => postJson({ ...valid, seed: 2 ** 32 }), status: 400, message: /seed/ },
	// A member of someone else's group, or of none, cannot be kept or varied through this group.
	{ name: "keep: Bob's picture through Alice's group", run: () => pageAction('keep', alicesGroup, { generation_id: bobsMember }), status: 404, message: /No such picture/ },
	{ name: 'keep: a generation id that is SQL', run: () => pageAction('keep', alicesGroup, { generation_id: "1' or '1'='1" }), status: 404, message: /No such picture/ },
	{ name: 'keep: a picture not finished yet', run: async () => pageAction('keep', alicesGroup, { generation_id: (await db.sql`select id from image_generations where group_id = ${alicesGroup} limit 1`)[0]!.id }), status: 400, message: /finished picture/ },
	{ name: "vary: Bob's picture through Alice's group", run: () => pageAction('vary', alicesGroup, { generation_id: bobsMember }), status: 404, message: /No such picture/ },
	{ name: 'discard others with nothing kept', run: () => pageAction('discardOthers', alicesGroup), status: 400, message: /Pick the picture to keep first/ },
	...['..%2F..%2Fetc%2Fpasswd', '../../etc/passwd', '%00', 'abc\u0000', 'not-a-uuid', "1' or '1'='1", '00000000-0000-0000-0000-000000000000/../x'].flatMap(
		(id): Case[] => [
			{ name: `get: id ${JSON.stringify(id)}`, run: () => get('/api/groups/x', getGroup as Route, id), status: 404, message: /No such group/ },
			{ name: `cancel: id ${JSON.stringify(id)}`, run: () => send('/api/groups/x', cancelGroup as Route, { method: 'DELETE', params: { id }, headers: asAlice() }), status: 404, message: /No such group/ },
			{ name: `events: id ${JSON.stringify(id)}`, run: () => get('/api/groups/x/events', groupEvents as Route, id), status: 404, message: /No such group/ },
			{ name: `zip: id ${JSON.stringify(id)}`, run: () => get('/api/groups/x/zip', groupZip as Route, id), status: 404, message: /No such group/ },
			{ name: `page: id ${JSON.stringify(id)}`, run: () => get('/groups/x', groupLoad as Route, id), status: 404, message: /No such group/ },
			{ name: `page cancel: id ${JSON.stringify(id)}`, run: () => pageAction('cancel', id), status: 404, message: /No such group/ }
		]
	)
];

describe('refused, with a message, writing nothing', () => {
	test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
		const before = await snapshotTables(db.sql);
		const answer = await c.run();
		expect({ status: answer.status, message: messageOf(answer.body) }).toMatchObject({ status: c.status, message: expect.stringMatching(c.message) });
		expect(await snapshotTables(db.sql)).toEqual(before);
	});
});
