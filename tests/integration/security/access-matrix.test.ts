// Who may do what: every route (found by globbing src/routes, so a new route without a row here
// fails) x every kind of caller, through the app's real hooks. Rows name the status each caller
// gets: anonymous, a user (the owner of per-user resources), another user, an administrator, a
// read-only operator, the cron secret as a Bearer token, and a wrong secret. Every spelling of every
// path is attacked against the built app in tests/e2e/security/router-attack.e2e.ts.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signAccessToken } from '$lib/server/auth/tokens';
import type { Services } from '$lib/server/runtime';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { isWrapped } from '$lib/server/http';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { form, sessionCookie, throughHooks, type Route, type Send } from '../../support/through-hooks';

const CRON_SECRET = 'cron-secret-for-the-access-matrix';
const METRICS_TOKEN = 'metrics-token-for-the-access-matrix';
const CALLERS = ['anon', 'wrong', 'cron', 'other', 'operator', 'admin', 'user'] as const; // the owner last: only it may change things
type Caller = (typeof CALLERS)[number];
type Expected = Record<Caller, number>;
/** Rows name the operator only where it differs from the rule in expectedFor(). */
type RowExpected = Omit<Expected, 'operator'> & { operator?: number };

// Every route module, loaded lazily; the key is its file under src/routes.
const modules = import.meta.glob<Record<string, unknown>>('/src/routes/**/+{server,page.server,layout.server}.ts');

let db: TestDatabase;
let services: Services;
let send: Send;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let operator: Awaited<ReturnType<typeof signedInUser>>;

/** Fresh sessions for every caller (after a row that signs its caller out everywhere). */
async function signInAll() {
	for (const who of [alice, bob, admin, operator]) {
		who.token = await services.sessions.start({ id: who.id });
	}
}

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, {}, { CRON_SECRET, METRICS_TOKEN, REPLICATE_WEBHOOK_SECRET: `whsec_${Buffer.from('matrix-webhook-key').toString('base64')}` });
	send = await throughHooks(services);
	alice = await signedInUser(services);
	bob = await signedInUser(services);
	admin = await signedInUser(services, { admin: true });
	operator = await signedInUser(services, { operator: true });
});
afterAll(() => db.drop());

function headersFor(caller: Caller): Record<string, string> {
	switch (caller) {
		case 'anon':
			return {};
		case 'wrong':
			return { authorization: 'Bearer wrong-secret-0123456789abcdef' };
		case 'cron':
			return { authorization: `Bearer ${CRON_SECRET}` };
		case 'other':
			return sessionCookie(bob.token);
		case 'admin':
			return sessionCookie(admin.token);
		case 'operator':
			return sessionCookie(operator.token);
		case 'user':
			return sessionCookie(alice.token);
	}
}

/** One of alice's generations: completed with its image stored, or queued with its job. */
async function generation(status: 'completed' | 'queued') {
	const [job] = await db.sql<{ id: string }[]>`
		insert into job_queue (job_type, payload, status, created_by) values ('generate-image', '{}', 'pending', ${alice.id}) returning id`;
	const id = crypto.randomUUID();
	const done = status === 'completed';
	const image = `${alice.id}/${id}.png`;
	const thumb = `${alice.id}/${id}.thumb.webp`;
	await db.sql`
		insert into image_generations (id, user_id, prompt, model_id, width, height, seed, status, progress, job_id, image_path, thumbnail_path)
		values (${id}, ${alice.id}, 'a matrix of rooms', 'local/preview', 256, 256, 1, ${status}, ${done ? 100 : 0}, ${job!.id},
		        ${done ? image : null}, ${done ? thumb : null})`;
	if (done) {
		await services.storage.put(image, Buffer.from('png bytes'), 'image/png');
		await services.storage.put(thumb, Buffer.from('thumb bytes'), 'image/webp');
	}
	return { id, jobId: job!.id };
}

/** One of alice's groups, complete (so its event stream ends): a finished member and a failed one. */
async function group(): Promise<Ids> {
	const [{ id: groupId }] = (await db.sql`insert into generation_groups (user_id, prompt) values (${alice.id}, 'a matrix of rooms') returning id`) as unknown as [{ id: string }];
	const done = await generation('completed');
	const other = await generation('queued');
	await db.sql`update image_generations set group_id = ${groupId}, group_position = 0 where id = ${done.id}`;
	await db.sql`update image_generations set group_id = ${groupId}, group_position = 1, status = 'failed' where id = ${other.id}`;
	return { id: groupId, jobId: done.jobId, memberId: done.id };
}

// Shorthands for rows.
const everyone = (status: number): Expected => ({ anon: status, wrong: status, cron: status, other: status, operator: status, admin: status, user: status });
/** Signed-in pages: a visitor is sent to sign in (a token that is not a session is no session). */
const signedInPage = (owner = 200, other = owner, adminStatus = other): RowExpected => ({ anon: 303, wrong: 303, cron: 303, other, admin: adminStatus, user: owner });
/** Signed-in form actions and the API: 401 without a session. */
const signedIn = (owner: number, other = owner, adminStatus = other): RowExpected => ({ anon: 401, wrong: 401, cron: 401, other, admin: adminStatus, user: owner });
/** The console: pages send visitors to sign in; actions and non-GET requests get 401; users 403. */
const adminPage = (adminStatus = 200): RowExpected => ({ anon: 303, wrong: 303, cron: 303, other: 403, admin: adminStatus, user: 403 });
const adminAction = (adminStatus: number): RowExpected => ({ anon: 401, wrong: 401, cron: 401, other: 403, admin: adminStatus, user: 403 });

interface Row {
	/** The URL to request, with the route's parameters filled in. */
	path: string | ((ids: Ids) => string);
	params?: (ids: Ids) => Record<string, string>;
	fields?: Record<string, string> | ((ids: Ids) => Record<string, string>);
	json?: unknown;
	/** A fresh resource per row: alice's completed or queued generation, or her complete group. */
	needs?: 'completed' | 'queued' | 'group';
	/** The row ends its caller's sessions: every caller signs in afresh after it. */
	endsSessions?: boolean;
	expected: RowExpected;
}

/** An operator sees the console as an administrator does and may change nothing; elsewhere it is a plain user. */
function expectedFor(key: string, row: Row): Expected {
	if (row.expected.operator !== undefined) return row.expected as Expected;
	const console = key.startsWith('admin/');
	const operatorStatus = !console ? row.expected.other : key.includes('?/') ? 403 : row.expected.admin;
	return { ...row.expected, operator: operatorStatus };
}
type Ids = { id: string; jobId: string; memberId?: string };

// The key: "<route file> <GET|POST|DELETE|load|?/action>".
const MATRIX: Record<string, Row> = {
	'+layout.server.ts load': { path: '/', expected: everyone(200) },
	'+page.server.ts load': { path: '/', expected: { anon: 200, wrong: 200, cron: 200, other: 303, admin: 303, user: 303 } },
	'(app)/generate/+page.server.ts load': { path: '/generate', expected: signedInPage() },
	'(app)/generate/+page.server.ts ?/generate': {
		path: '/generate?/generate',
		fields: { prompt: 'matrix', model_id: 'local/preview', size: '512x512', seed_mode: 'random' },
		expected: signedIn(303)
	},
	'(app)/history/+page.server.ts load': { path: '/history', expected: signedInPage() },
	'(app)/account/+page.server.ts load': { path: '/account', expected: signedInPage() },
	'(app)/account/+page.server.ts ?/password': { path: '/account?/password', fields: { current_password: 'not-the-password', password: 'a-new-password-123' }, expected: signedIn(400) },
	'(app)/account/+page.server.ts ?/everywhere': { path: '/account?/everywhere', fields: {}, endsSessions: true, expected: signedIn(303) },
	'(app)/generations/[id]/+page.server.ts load': { path: (g) => `/generations/${g.id}`, needs: 'completed', expected: signedInPage(200, 404) },
	'(app)/generations/[id]/+page.server.ts ?/cancel': { path: (g) => `/generations/${g.id}?/cancel`, needs: 'queued', expected: signedIn(303, 404) },
	'(app)/generations/[id]/+page.server.ts ?/delete': { path: (g) => `/generations/${g.id}?/delete`, needs: 'completed', expected: signedIn(303, 404) },
	'(app)/generations/[id]/+page.server.ts ?/vary': { path: (g) => `/generations/${g.id}?/vary`, needs: 'completed', expected: signedIn(303, 404) },
	// Groups: someone else's is none at all, for administrators too.
	'(app)/groups/[id]/+page.server.ts load': { path: (g) => `/groups/${g.id}`, needs: 'group', expected: signedInPage(200, 404) },
	'(app)/groups/[id]/+page.server.ts ?/cancel': { path: (g) => `/groups/${g.id}?/cancel`, needs: 'group', expected: signedIn(303, 404) },
	'(app)/groups/[id]/+page.server.ts ?/keep': { path: (g) => `/groups/${g.id}?/keep`, needs: 'group', fields: (g) => ({ generation_id: g.memberId! }), expected: signedIn(303, 404) },
	// Nothing kept yet: the owner is told to pick one first.
	'(app)/groups/[id]/+page.server.ts ?/discardOthers': { path: (g) => `/groups/${g.id}?/discardOthers`, needs: 'group', expected: signedIn(400, 404) },
	'(app)/groups/[id]/+page.server.ts ?/vary': { path: (g) => `/groups/${g.id}?/vary`, needs: 'group', fields: (g) => ({ generation_id: g.memberId! }), expected: signedIn(303, 404) },
	'api/groups/[id]/+server.ts GET': { path: (g) => `/api/groups/${g.id}`, needs: 'group', expected: signedIn(200, 404) },
	'api/groups/[id]/+server.ts DELETE': { path: (g) => `/api/groups/${g.id}`, needs: 'group', expected: signedIn(200, 404) },
	'api/groups/[id]/events/+server.ts GET': { path: (g) => `/api/groups/${g.id}/events`, needs: 'group', expected: signedIn(200, 404) },
	'api/groups/[id]/zip/+server.ts GET': { path: (g) => `/api/groups/${g.id}/zip`, needs: 'group', expected: signedIn(200, 404) },

	'auth/signin/+page.server.ts load': { path: '/auth/signin', expected: { anon: 200, wrong: 200, cron: 200, other: 303, admin: 303, user: 303 } },
	'auth/signin/+page.server.ts ?/default': { path: '/auth/signin', fields: { email: 'nobody@x.test', password: '' }, expected: everyone(400) },
	'auth/signup/+page.server.ts load': { path: '/auth/signup', expected: { anon: 200, wrong: 200, cron: 200, other: 303, admin: 303, user: 303 } },
	'auth/signup/+page.server.ts ?/default': { path: '/auth/signup', fields: { email: 'not an email', password: '' }, expected: everyone(400) },
	'auth/signout/+page.server.ts load': { path: '/auth/signout', expected: everyone(303) },
	'auth/signout/+page.server.ts ?/default': { path: '/auth/signout', fields: {}, endsSessions: true, expected: everyone(303) },

	'api/generations/+server.ts GET': { path: '/api/generations', expected: signedIn(200) },
	'api/generations/+server.ts POST': { path: '/api/generations', json: { prompt: 'matrix', model_id: 'local/preview', width: 512, height: 512 }, expected: signedIn(201) },
	// Someone else's generation is indistinguishable from none, for administrators too (RLS).
	'api/generations/[id]/+server.ts GET': { path: (g) => `/api/generations/${g.id}`, needs: 'completed', expected: signedIn(200, 404) },
	'api/generations/[id]/+server.ts DELETE': { path: (g) => `/api/generations/${g.id}`, needs: 'queued', expected: signedIn(200, 404) },
	'api/generations/[id]/events/+server.ts GET': { path: (g) => `/api/generations/${g.id}/events`, needs: 'completed', expected: signedIn(200, 404) },
	// Administrators may see any image (the console shows them).
	'api/generations/[id]/image/+server.ts GET': { path: (g) => `/api/generations/${g.id}/image`, needs: 'completed', expected: { ...signedIn(200, 404, 200), operator: 200 } },
	'api/health/+server.ts GET': { path: '/api/health', expected: everyone(200) },
	'api/models/+server.ts GET': { path: '/api/models', expected: everyone(200) },
	'api/metrics/+server.ts GET': { path: '/api/metrics', expected: { anon: 401, wrong: 401, cron: 401, other: 403, operator: 200, admin: 200, user: 403 } },
	// Only a valid signature counts: no session or secret stands in for one.
	'api/webhooks/replicate/+server.ts POST': { path: '/api/webhooks/replicate', json: { id: 'p', status: 'succeeded' }, expected: everyone(401) },
	'api/worker/+server.ts POST': { path: '/api/worker?budget_seconds=1', expected: { anon: 401, wrong: 401, cron: 200, other: 401, admin: 401, user: 401 } },
	// Vercel Cron's GET: the same secret, the same refusals.
	'api/worker/+server.ts GET': { path: '/api/worker?budget_seconds=1', expected: { anon: 401, wrong: 401, cron: 200, other: 401, admin: 401, user: 401 } },

	'admin/+layout.server.ts load': { path: '/admin', expected: adminPage() },
	'admin/+page.server.ts load': { path: '/admin', expected: adminPage() },
	'admin/overview/+server.ts GET': { path: '/admin/overview', expected: adminPage() },
	'admin/overview/live/+server.ts GET': { path: '/admin/overview/live', expected: adminPage() },
	'admin/audit/+page.server.ts load': { path: '/admin/audit', expected: adminPage() },
	'admin/export/+page.server.ts load': { path: '/admin/export', expected: adminPage() },
	'admin/export/[name].csv/+server.ts GET': { path: '/admin/export/failed-jobs.csv', params: () => ({ name: 'failed-jobs' }), expected: adminPage() },
	'admin/failures/+page.server.ts load': { path: '/admin/failures', expected: adminPage() },
	'admin/failures/+page.server.ts ?/retryGroup': { path: '/admin/failures?/retryGroup', fields: { message: 'nothing failed like this' }, expected: adminAction(200) },
	'admin/jobs/+page.server.ts load': { path: '/admin/jobs', expected: adminPage() },
	'admin/jobs/+page.server.ts ?/bulk': { path: '/admin/jobs?/bulk', fields: { op: 'retry' }, expected: adminAction(200) },
	// The ticked rows: counting a selection (the first step) changes nothing, so a random id is enough.
	'admin/jobs/+page.server.ts ?/selection': { path: '/admin/jobs?/selection', fields: { op: 'retry', id: '4b1c7a2e-9d3f-4e8a-b6c5-0f1e2d3c4b5a' }, expected: adminAction(200) },
	'admin/jobs/[id]/+page.server.ts load': { path: (g) => `/admin/jobs/${g.jobId}`, needs: 'queued', expected: adminPage() },
	'admin/jobs/[id]/+page.server.ts ?/retry': { path: (g) => `/admin/jobs/${g.jobId}?/retry`, needs: 'queued', expected: adminAction(400) },
	'admin/jobs/[id]/+page.server.ts ?/cancel': { path: (g) => `/admin/jobs/${g.jobId}?/cancel`, needs: 'queued', expected: adminAction(200) },
	'admin/models/+page.server.ts load': { path: '/admin/models', expected: adminPage() },
	'admin/models/+page.server.ts ?/enable': { path: '/admin/models?/enable', fields: { model_id: 'local/preview' }, expected: adminAction(200) },
	'admin/models/+page.server.ts ?/disable': { path: '/admin/models?/disable', fields: { model_id: 'no/such-model' }, expected: adminAction(404) },
	'admin/models/+page.server.ts ?/concurrency': { path: '/admin/models?/concurrency', fields: { model_id: 'local/preview', max_concurrency: '0' }, expected: adminAction(400) },
	'admin/models/+page.server.ts ?/price': { path: '/admin/models?/price', fields: { model_id: 'local/preview', cost_per_second: '-1' }, expected: adminAction(400) },
	'admin/stuck/+page.server.ts load': { path: '/admin/stuck', expected: adminPage() },
	'admin/stuck/+page.server.ts ?/reset': { path: '/admin/stuck?/reset', fields: {}, expected: adminAction(400) },
	'admin/stuck/+page.server.ts ?/resetAll': { path: '/admin/stuck?/resetAll', fields: {}, expected: adminAction(200) },
	'admin/users/+page.server.ts load': { path: '/admin/users', expected: adminPage() },
	'admin/costs/+page.server.ts load': { path: '/admin/costs', expected: adminPage() },
	'admin/users/+page.server.ts ?/limits': { path: '/admin/users?/limits', fields: { user_id: 'nobody' }, expected: adminAction(404) },
	'admin/users/+page.server.ts ?/clear': { path: '/admin/users?/clear', fields: { user_id: 'nobody' }, expected: adminAction(404) },
	'admin/users/+page.server.ts ?/role': { path: '/admin/users?/role', fields: { user_id: 'nobody', role: 'operator' }, expected: adminAction(404) },
	'admin/users/+page.server.ts ?/endSessions': { path: '/admin/users?/endSessions', fields: { user_id: 'nobody' }, expected: adminAction(404) },
	'admin/worker/+page.server.ts load': { path: '/admin/worker', expected: adminPage() },
	'admin/worker/+page.server.ts ?/run': { path: '/admin/worker?/run', fields: { budget_seconds: '0' }, expected: adminAction(400) },
	'admin/worker/+page.server.ts ?/pause': { path: '/admin/worker?/pause', fields: { job_type: '' }, expected: adminAction(400) },
	'admin/worker/+page.server.ts ?/resume': { path: '/admin/worker?/resume', fields: { job_type: '' }, expected: adminAction(400) },
	'admin/worker/+page.server.ts ?/cancelPreview': { path: '/admin/worker?/cancelPreview', fields: {}, expected: adminAction(200) },
	'admin/worker/+page.server.ts ?/cancel': { path: '/admin/worker?/cancel', fields: {}, expected: adminAction(400) },
	'admin/worker/+page.server.ts ?/purgePreview': { path: '/admin/worker?/purgePreview', fields: { days: '30' }, expected: adminAction(200) },
	'admin/worker/+page.server.ts ?/purge': { path: '/admin/worker?/purge', fields: {}, expected: adminAction(400) }
};

/** What each route file offers: endpoint methods, a load, form actions. */
async function discover(): Promise<Map<string, Route>> {
	const found = new Map<string, Route>();
	for (const [file, load] of Object.entries(modules)) {
		const name = file.replace('/src/routes/', '');
		const module = await load();
		for (const [key, value] of Object.entries(module)) {
			if (/^(GET|POST|PUT|PATCH|DELETE)$/.test(key) || key === 'load') found.set(`${name} ${key}`, value as Route);
			if (key === 'actions') {
				for (const [action, run] of Object.entries(value as Record<string, Route>)) found.set(`${name} ?/${action}`, run);
			}
		}
	}
	return found;
}

test('every route in src/routes has a row, and every row a route', async () => {
	const found = [...(await discover()).keys()].sort();
	expect(found.length).toBeGreaterThan(40);
	expect(found).toEqual(Object.keys(MATRIX).sort());
});

// By construction: a service error or a database error the request caused is a 4xx on every route,
// because every exported handler goes through the HTTP edge's mapping (http/index.ts).
test('every load, action and endpoint is wrapped by the HTTP edge', async () => {
	const unwrapped = [...(await discover()).entries()].filter(([, handler]) => !isWrapped(handler)).map(([key]) => key);
	expect(unwrapped).toEqual([]);
});

describe('each caller gets the status its row names', () => {
	let routes: Map<string, Route>;
	beforeAll(async () => {
		routes = await discover();
	});
	test.each(Object.keys(MATRIX))('%s', async (key) => {
		const row = MATRIX[key]!;
		const route = routes.get(key)!;
		const ids: Ids = row.needs === 'group' ? await group() : row.needs ? await generation(row.needs) : { id: '', jobId: '' };
		const path = typeof row.path === 'function' ? row.path(ids) : row.path;
		const method = key.includes('?/') ? 'POST' : key.endsWith(' load') ? 'GET' : key.split(' ')[1]!;
		const params = row.params?.(ids) ?? (path.match(/[0-9a-f-]{36}/) ? { id: path.match(/[0-9a-f-]{36}/)![0] } : {});
		const actual = {} as Expected;
		for (const caller of CALLERS) {
			const fields = typeof row.fields === 'function' ? row.fields(ids) : row.fields;
			const body = key.includes('?/') ? form(fields ?? {}) : row.json !== undefined ? JSON.stringify(row.json) : method === 'GET' ? undefined : '';
			const headers = { ...headersFor(caller), ...(row.json !== undefined ? { 'content-type': 'application/json' } : {}) };
			actual[caller] = (await send(path, route, { method, params, headers, body })).status;
		}
		if (row.endsSessions) await signInAll();
		expect(actual).toEqual(expectedFor(key, row));
	});
});

test('the guard sends a visitor to sign in and back, and tells users the console is not theirs', async () => {
	const routes = await discover();
	const visitor = await send('/admin/jobs?status=failed', routes.get('admin/jobs/+page.server.ts load')!);
	expect(visitor).toMatchObject({ status: 303, location: '/auth/signin?redirectTo=%2Fadmin%2Fjobs%3Fstatus%3Dfailed' });
	const user = await send('/admin/users?/limits', routes.get('admin/users/+page.server.ts ?/limits')!, { method: 'POST', body: form({ user_id: alice.id, hourly_limit: '0' }), headers: sessionCookie(alice.token) });
	expect(user.status).toBe(403);
	expect(user.body).toMatch(/<p>This area is for administrators<\/p>/);
	expect(await db.sql`select * from user_limits where user_id = ${alice.id}`).toHaveLength(0);
});

test('the metrics token opens /api/metrics and nothing else', async () => {
	const routes = await discover();
	const headers = { authorization: `Bearer ${METRICS_TOKEN}` };
	expect((await send('/api/metrics', routes.get('api/metrics/+server.ts GET')!, { headers })).status).toBe(200);
	expect((await send('/api/generations', routes.get('api/generations/+server.ts GET')!, { headers })).status).toBe(401);
	expect((await send('/api/worker', routes.get('api/worker/+server.ts POST')!, { method: 'POST', headers })).status).toBe(401);
	expect((await send('/admin', routes.get('admin/+page.server.ts load')!, { headers })).status).toBe(303);
});

describe('a session cookie cannot be forged', () => {
	const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
	const parts = (token: string) => token.split('.') as [string, string, string];
	const claims = (token: string) => JSON.parse(Buffer.from(parts(token)[1], 'base64url').toString());
	const now = () => Math.floor(Date.now() / 1000);
	const forgeries: Array<[string, () => string]> = [
		['a payload edited to claim the admin role', () => {
			const [head, , signature] = parts(alice.token);
			return `${head}.${b64({ ...claims(alice.token), app_metadata: { provider: 'email', roles: ['admin'] } })}.${signature}`;
		}],
		['a payload edited to be another user', () => {
			const [head, , signature] = parts(alice.token);
			return `${head}.${b64({ ...claims(alice.token), sub: admin.id, sid: claims(admin.token).sid })}.${signature}`;
		}],
		["alice's session id under the administrator's id, correctly signed", () =>
			signAccessToken({ sub: admin.id, sid: claims(alice.token).sid }, services.sessionSecret, 3600)],
		['a correctly signed token for a session that never existed', () =>
			signAccessToken({ sub: admin.id, sid: '00000000-0000-4000-8000-00000000dead' }, services.sessionSecret, 3600)],
		['claims swapped between two valid tokens', () => `${parts(alice.token)[0]}.${parts(admin.token)[1]}.${parts(alice.token)[2]}`],
		['signed with the wrong key', () => signAccessToken({ sub: admin.id, sid: claims(admin.token).sid }, 'not-the-session-secret-but-long-enough-0123', 3600)],
		['alg none, no signature', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims(admin.token) })}.`],
		['alg none, the old signature kept', () => `${b64({ alg: 'none', typ: 'JWT' })}.${parts(admin.token)[1]}.${parts(admin.token)[2]}`],
		['expired', () => signAccessToken({ sub: admin.id, sid: claims(admin.token).sid }, services.sessionSecret, 60, now() - 3600)],
		['a role other than authenticated, correctly signed', () => {
			const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims(admin.token), role: 'service_role' })}`;
			return `${body}.${createHmac('sha256', services.sessionSecret).update(body).digest('base64url')}`;
		}],
		['garbage', () => 'not.a.token'],
		['an empty cookie', () => '']
	];

	test.each(forgeries)('%s is no session at all', async (_name, forge) => {
		const routes = await discover();
		const token = forge();
		for (const headers of [sessionCookie(token), { authorization: `Bearer ${token}` }]) {
			expect((await send('/api/generations', routes.get('api/generations/+server.ts GET')!, { headers })).status).toBe(401);
			expect((await send('/admin/users', routes.get('admin/users/+page.server.ts load')!, { headers })).status).toBe(303);
			expect((await send('/admin/models?/disable', routes.get('admin/models/+page.server.ts ?/disable')!, { method: 'POST', headers, body: form({ model_id: 'local/preview' }) })).status).toBe(401);
		}
		expect((await db.sql`select enabled from models where id = 'local/preview'`)[0]!.enabled).toBe(true);
	});

	test('the genuine tokens those were made from do work (so the refusals above are the forgeries)', async () => {
		const routes = await discover();
		expect((await send('/api/generations', routes.get('api/generations/+server.ts GET')!, { headers: sessionCookie(alice.token) })).status).toBe(200);
		expect((await send('/admin/users', routes.get('admin/users/+page.server.ts load')!, { headers: sessionCookie(admin.token) })).status).toBe(200);
	});
});
