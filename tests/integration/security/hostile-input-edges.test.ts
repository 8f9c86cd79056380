// The classes of bad input an outside attack turned into 500s: dates outside Postgres' range in
// cursors and filters, bodies that are not forms posted to form actions, a model disabled between
// validation and the insert, a token whose account is gone, a NUL in a validly signed webhook, and
// sign-in redirects that leave the site. Each is a 4xx with a message, and writes nothing.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Sql } from '$lib/server/db/client';
import type { Services } from '$lib/server/runtime';
import { actions as generateActions } from '$routes/(app)/generate/+page.server';
import { load as jobsLoad } from '$routes/admin/jobs/+page.server';
import { GET as listGenerations, POST as startGeneration } from '$routes/api/generations/+server';
import { actions as signInActions } from '$routes/auth/signin/+page.server';
import { actions as signUpActions } from '$routes/auth/signup/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { messageOf, signedWebhook as signedWebhookTo, snapshotTables } from '../../support/hostile';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { action, form, sessionCookie, throughHooks, type Route, type Send } from '../../support/through-hooks';

const WEBHOOK_SECRET = `whsec_${Buffer.from('hostile-edges-webhook-key').toString('base64')}`;
let db: TestDatabase;
let services: Services;
let send: Send;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, {}, { REPLICATE_WEBHOOK_SECRET: WEBHOOK_SECRET });
	send = await throughHooks(services);
	alice = await signedInUser(services);
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());
beforeEach(() => db.sql`update models set enabled = true where id = 'local/preview'`);

const cursor = (createdAt: string) => Buffer.from(JSON.stringify([createdAt, crypto.randomUUID()])).toString('base64url');
const jobsCursor = (value: string) => Buffer.from(JSON.stringify(['n', value, crypto.randomUUID()])).toString('base64url');
const asAlice = () => sessionCookie(alice.token);
const valid = { prompt: 'a lighthouse', model_id: 'local/preview', width: 512, height: 512 };

const signedWebhook = (body: string) => signedWebhookTo(send, WEBHOOK_SECRET, body);

interface Case {
	name: string;
	run: () => Promise<{ status: number; body: unknown; location?: string | null }>;
	status: number;
	message: RegExp;
}

const cases: Case[] = [
	...['0000-01-01 00:00:00+00', '10000-01-01 00:00:00+00', '-0001-01-01 00:00:00+00', '2026-13-45 99:99:99+00', 'infinity', '294277-01-01 00:00:00+00'].map(
		(at): Case => ({ name: `list: a cursor at ${at}`, run: () => send(`/api/generations?cursor=${cursor(at)}`, listGenerations as Route, { headers: asAlice() }), status: 400, message: /cursor|date/ })
	),
	...['0000-01-01', '9999-12-31', '0000-01-01T00:00Z'].map(
		(day): Case => ({
			name: `console jobs: a filter from ${day} to ${day}`,
			run: async () => {
				const answer = await send(`/admin/jobs?from=${day}&to=${day}`, jobsLoad as Route, { headers: sessionCookie(admin.token) });
				return { status: answer.status, body: (answer.body as { problem: unknown }).problem };
			},
			status: 200,
			message: /outside the years 1 to 9999|not a date/
		})
	),
	...['0000-01-01T00:00:00.000000Z', '10000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z'].map(
		(at): Case => ({
			name: `console jobs: a cursor at ${at}`,
			run: async () => {
				const answer = await send(`/admin/jobs?cursor=${jobsCursor(at)}`, jobsLoad as Route, { headers: sessionCookie(admin.token) });
				return { status: answer.status, body: (answer.body as { problem: unknown }).problem };
			},
			status: 200,
			message: /page link is not valid/
		})
	),
	...(
		[
			['/auth/signin', signInActions, 'default'],
			['/auth/signup', signUpActions, 'default'],
			['/generate?/generate', generateActions, 'generate']
		] as const
	).flatMap(([path, actions, name]) =>
		['text/plain', 'application/json', 'text/html', ''].map(
			(type): Case => ({
				name: `${path}: a ${type || 'type-less'} body`,
				run: () => send(path, action(actions, name), { method: 'POST', body: 'email=a@b.test&password=x', headers: { ...(type ? { 'content-type': type } : {}), ...asAlice() } }),
				status: 415,
				message: /Form actions take application\/x-www-form-urlencoded or multipart\/form-data/
			})
		)
	),
	{ name: 'webhook: a NUL in a validly signed prediction id', run: () => signedWebhook('{"id":"p\\u0000x","status":"succeeded"}'), status: 400, message: /cannot be stored|NUL/ },
	{ name: 'webhook: a NUL in validly signed logs', run: () => signedWebhook('{"id":"p1","status":"processing","logs":"50%|\\u0000"}'), status: 400, message: /cannot be stored|NUL/ },
	{ name: 'webhook: a NUL in a validly signed status', run: () => signedWebhook('{"id":"p1","status":"succ\\u0000eeded"}'), status: 400, message: /cannot be stored|NUL/ }
];

describe('refused with a 4xx and a message, writing nothing', () => {
	test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
		const before = await snapshotTables(db.sql);
		const answer = await c.run();
		expect({ status: answer.status, message: messageOf(answer.body) }).toMatchObject({ status: c.status, message: expect.stringMatching(c.message) });
		expect(await snapshotTables(db.sql)).toEqual(before);
	});
});

/** The database as the app sees it, but with the model switched off just before start_generation runs. */
function disablingBeforeStart(sql: Sql): Sql {
	return new Proxy(sql, {
		apply(target, self, args: unknown[]) {
			const strings = args[0] as TemplateStringsArray | undefined;
			if (Array.isArray(strings) && strings.join('').includes('public.start_generation(')) {
				return sql`update models set enabled = false where id = 'local/preview'`.then(() => Reflect.apply(target, self, args));
			}
			return Reflect.apply(target, self, args);
		}
	}) as Sql;
}

test('a model disabled between the check and the insert is a 400 naming the model, not a 500', async () => {
	const racing = await throughHooks(await testServices({ sql: disablingBeforeStart(db.sql), url: db.url }, {}, { REPLICATE_WEBHOOK_SECRET: WEBHOOK_SECRET }));
	const before = await db.sql`select count(*)::int as n from image_generations`;
	const answer = await racing('/api/generations', startGeneration as Route, { method: 'POST', body: JSON.stringify(valid), headers: { 'content-type': 'application/json', ...asAlice() } });
	expect(answer.status).toBe(400);
	// start_generation refuses it in the same snapshot as the insert; the app then says why.
	expect(messageOf(answer.body)).toMatch(/Local preview is not available: Disabled by an administrator/);
	expect(await db.sql`select count(*)::int as n from image_generations`).toEqual(before);
	const page = await racing('/generate?/generate', action(generateActions, 'generate'), { method: 'POST', body: form({ prompt: 'x', model_id: 'local/preview', size: '512x512', seed_mode: 'random' }), headers: asAlice() });
	expect(page.status).toBe(400);
	send = await throughHooks(services); // the rest of the file on the plain database again
});

describe('sign-in sends a browser back only to this site', () => {
	const hostile = ['/\t/evil.example/x', '//evil.example', '/\\evil.example', 'https://evil.example', '/\r\nSet-Cookie: x=1', '/\uff0f\uff0fevil.example', '/evil\u3002example', '/%2F%2Fevil.example', 'javascript:alert(1)'];
	test.each(hostile)('redirectTo %j lands on /generate', async (redirectTo) => {
		const email = `redirect-${crypto.randomUUID()}@example.test`;
		const up = await send('/auth/signup', action(signUpActions, 'default'), { method: 'POST', body: form({ email, password: 'a-long-password-1', redirectTo }) });
		expect({ status: up.status, location: up.location }).toEqual({ status: 303, location: '/generate' });
		const signIn = await send('/auth/signin', action(signInActions, 'default'), { method: 'POST', body: form({ email, password: 'a-long-password-1', redirectTo }) });
		expect({ status: signIn.status, location: signIn.location }).toEqual({ status: 303, location: '/generate' });
	});
	test('a path on this site is kept', async () => {
		const email = `redirect-${crypto.randomUUID()}@example.test`;
		const up = await send('/auth/signup', action(signUpActions, 'default'), { method: 'POST', body: form({ email, password: 'a-long-password-1', redirectTo: '/history?status=failed' }) });
		expect(up.location).toBe('/history?status=failed');
	});
});
