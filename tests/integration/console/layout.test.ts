// The console layout's load: which deployment this is (PICTURE_ENVIRONMENT) and whether the viewer may
// act, for every console page's header; through the app's hooks, as each kind of caller.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { load } from '$routes/admin/+layout.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { sessionCookie, throughHooks, type Route, type Send } from '../../support/through-hooks';

let db: TestDatabase;
let services: Services;
let send: Send;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let operator: Awaited<ReturnType<typeof signedInUser>>;
let user: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, {}, { PICTURE_ENVIRONMENT: 'production' });
	send = await throughHooks(services);
	admin = await signedInUser(services, { admin: true });
	operator = await signedInUser(services, { operator: true });
	user = await signedInUser(services);
});
afterAll(() => db.drop());

const layout = (token: string) => send('/admin/jobs', load as unknown as Route, { headers: sessionCookie(token) });

test('an administrator: may act, production in red with its title prefix', async () => {
	const answer = await layout(admin.token);
	expect(answer.status).toBe(200);
	expect(answer.body).toEqual({
		console: { environment: { name: 'production', tone: 'production', titlePrefix: 'PRODUCTION · ' }, canAct: true, role: 'administrator' }
	});
});

test('an operator: sees the same environment, and is told the console is read-only', async () => {
	const answer = await layout(operator.token);
	expect(answer.body).toMatchObject({ console: { canAct: false, role: 'operator', environment: { tone: 'production' } } });
});

test('a plain user and a visitor never get the console header', async () => {
	expect((await layout(user.token)).status).toBe(403);
	expect((await send('/admin/jobs', load as unknown as Route)).status).toBe(303);
});

test('without PICTURE_ENVIRONMENT there is no badge', async () => {
	const plain = await testServices(db);
	const sendPlain = await throughHooks(plain);
	const answer = await sendPlain('/admin', load as unknown as Route, { headers: sessionCookie(admin.token) });
	expect(answer.body).toMatchObject({ console: { environment: { name: null, tone: 'neutral', titlePrefix: '' } } });
});
