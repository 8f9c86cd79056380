// The other side of hostile-input.test.ts: what looks hostile but is legitimate gets through
// whole. Unusual text is stored and served exactly as written, a body of exactly 1 MB reaches
// validation (one byte more does not), a chunked body arrives intact, and the image store stays
// inside its own directory.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { POST as startGeneration } from '$routes/api/generations/+server';
import { GET as getGeneration } from '$routes/api/generations/[id]/+server';
import { actions as generateActions } from '$routes/(app)/generate/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { messageOf } from '../../support/hostile';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { action, form, sessionCookie, throughHooks, type Route, type Send } from '../../support/through-hooks';

let db: TestDatabase;
let services: Services;
let send: Send;
let alice: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	send = await throughHooks(services);
	alice = await signedInUser(services);
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	await db.sql`delete from job_queue`;
});

const MB = 1024 * 1024;
const valid = { prompt: 'a lighthouse in a storm', model_id: 'local/preview', width: 512, height: 512 };
const json = (value: unknown) => JSON.stringify(value);
const asAlice = () => sessionCookie(alice.token);
const postJson = (body: string) =>
	send('/api/generations', startGeneration as Route, { method: 'POST', body, headers: { 'content-type': 'application/json', ...asAlice() } });
const get = (path: string, route: Route, params: Record<string, string>) => send(path, route, { params, headers: asAlice() });
const postAction = (path: string, actions: object, name: string, fields: Record<string, string>) =>
	send(`${path}?/${name}`, action(actions, name), { method: 'POST', body: form(fields), headers: asAlice() });
const fieldsOf = (fields: Record<string, string>) => ({ prompt: 'a quiet harbour', model_id: 'local/preview', size: '512x512', seed_mode: 'random', ...fields });

describe('unusual but valid text is stored verbatim', () => {
	const prompts = [
		'Café ☕ in 日本語, עברית and العربية, 👩‍👩‍👧 at 🌊 dusk',
		"Robert'); DROP TABLE job_queue; --",
		'<script>window.__xss=1</script><img src=x onerror="window.__xss=1">',
		'"><svg onload=alert(1)> and javascript:alert(1)',
		'two lines\r\nwith a\ttab',
		'${7*7} {{7*7}} %s %n \\x00 \\u0000 (escaped text, not control characters)',
		'🌊'.repeat(2000)
	];
	test.each(prompts.map((p) => [p.slice(0, 40), p] as const))('%s', async (_name, prompt) => {
		const answer = await postJson(json({ ...valid, prompt, negative_prompt: prompt }));
		expect(answer.status).toBe(201);
		const id = (answer.body as { generation_id: string }).generation_id;
		const [row] = await db.sql`select prompt, negative_prompt from image_generations where id = ${id}`;
		expect(row).toEqual({ prompt, negative_prompt: prompt });
		const read = await get(`/api/generations/${id}`, getGeneration as Route, { id });
		expect((read.body as { prompt: string }).prompt).toBe(prompt);
	});

	test('the same text through the form action, carriage returns and all', async () => {
		const prompt = '<b>bold?</b>\r\nSELECT * FROM auth.users; -- 🙂';
		const answer = await postAction('/generate', generateActions, 'generate', fieldsOf({ prompt, seed_mode: 'fixed', seed: '4294967295' }));
		expect(answer.status).toBe(303);
		const [row] = await db.sql`select prompt, seed from image_generations where id = ${answer.location!.split('/').pop()!}`;
		expect(row).toEqual({ prompt, seed: '4294967295' });
	});
});

describe('the body limit is exactly 1 MB', () => {
	test('a body of exactly 1 MB gets through to validation; one byte more does not', async () => {
		const padding = (size: number) => json({ ...valid, prompt: 'x'.repeat(size - json({ ...valid, prompt: '' }).length) });
		const atLimit = await postJson(padding(MB));
		expect(atLimit.status).toBe(400);
		expect(messageOf(atLimit.body)).toMatch(/the limit is 2000/);
		const over = await postJson(padding(MB + 1));
		expect(over.status).toBe(413);
		expect(over.headers.get('content-type')).toMatch(/application\/json/);
	});

	test('a chunked body under the limit reaches the route whole', async () => {
		const text = json({ ...valid, prompt: 'streamed in pieces' });
		const bytes = new TextEncoder().encode(text);
		const stream = new ReadableStream<Uint8Array>({
			start(controller) {
				for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
				controller.close();
			}
		});
		const answer = await send('/api/generations', startGeneration as Route, { method: 'POST', body: stream, headers: { 'content-type': 'application/json', ...asAlice() } });
		expect(answer.status).toBe(201);
		const [row] = await db.sql`select prompt from image_generations`;
		expect(row!.prompt).toBe('streamed in pieces');
	});
});

test('the image store never serves a path outside itself', async () => {
	for (const key of ['../../../../etc/passwd', '/etc/passwd', '..\\..\\etc\\passwd', 'a/../../../etc/hostname']) {
		const object = await services.storage.get(key).catch((err: Error) => err);
		expect(object === null || object instanceof Error).toBe(true);
	}
});
