// The router, attacked as an outsider would: every route of the built app (from its own manifest),
// every spelling of its path, its __data.json and every named ?/action, anonymously, as a plain user
// and as an administrator, through real HTTP. However a path is spelled, a caller gets the answer the
// plain spelling gives them; nothing outside the console's callers reaches it; and no refused action
// changes a table. A new route is attacked without anyone writing a row for it.
import { expect, test } from '@playwright/test';
import { builtRoutes, digestTables, spellings, type BuiltRoute, type Spelling } from '../../support/router-attack';
import { ADMIN, connectToAppDatabase, screenshotAtWidths, signUp, uniqueEmail } from '../../support/browser';

type Caller = 'anon' | 'user' | 'admin';
const origin = () => `http://127.0.0.1:${process.env.PICTURE_E2E_PORT}`;

/** A session cookie from the app's own sign-in or sign-up form. */
async function sessionCookie(action: 'signin' | 'signup', email: string, password: string): Promise<string> {
	const response = await fetch(`${origin()}/auth/${action}`, {
		method: 'POST',
		redirect: 'manual',
		headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', origin: origin() },
		body: new URLSearchParams({ email, password })
	});
	expect(response.status, `${action} ${email}`).toBe(303);
	const cookie = response.headers.getSetCookie().find((c) => c.startsWith('picture_session='));
	return cookie!.split(';')[0]!;
}

/** Sends a path exactly as written (fetch keeps percent-escapes and slashes as given). */
async function send(caller: Caller, cookies: Record<Caller, string | null>, method: string, pathAndQuery: string, body?: URLSearchParams, accept = 'text/html') {
	const headers: Record<string, string> = { origin: origin(), accept };
	if (cookies[caller]) headers.cookie = cookies[caller]!;
	if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
	const response = await fetch(`${origin()}${pathAndQuery}`, { method, redirect: 'manual', headers, body });
	const text = await response.text();
	return { status: response.status, location: response.headers.get('location'), text };
}

const isConsole = (route: BuiltRoute) => route.id === '/admin' || route.id.startsWith('/admin/');
const isSignedIn = (route: BuiltRoute) => route.id.startsWith('/(app)/');

/** A 2xx that carries data: for __data.json, SvelteKit answers redirects and errors as 200 JSON too. */
function leaked(answer: { status: number; text: string }): boolean {
	if (answer.status < 200 || answer.status > 299) return false;
	try {
		const json = JSON.parse(answer.text) as { type?: string };
		return json.type !== 'redirect' && json.type !== 'error';
	} catch {
		return true;
	}
}

test.describe.configure({ mode: 'serial' });

let routes: BuiltRoute[];
const cookies: Record<Caller, string | null> = { anon: null, user: null, admin: null };
let db: Awaited<ReturnType<typeof connectToAppDatabase>>;

test.beforeAll(async () => {
	routes = await builtRoutes();
	cookies.admin = await sessionCookie('signin', ADMIN.email, ADMIN.password);
	cookies.user = await sessionCookie('signup', uniqueEmail('attacker'), 'attacker-password-1');
	db = await connectToAppDatabase();
	// The in-process worker must not change the tables while we watch them: pause its job type (as
	// an operator would) and wait for what runs to finish, so digests change only by what we send.
	await db`insert into job_queue_paused_types (job_type, reason) values ('generate-image', 'router attack under way') on conflict do nothing`;
	await expect.poll(async () => (await db`select count(*)::int as n from job_queue where status = 'processing'`)[0]!.n, { timeout: 60_000 }).toBe(0);
});
test.afterAll(async () => {
	await db`delete from job_queue_paused_types where reason = 'router attack under way'`;
	await db?.end();
});

test('the manifest lists every kind of route, console actions included', () => {
	expect(routes.length).toBeGreaterThanOrEqual(29);
	expect(routes.find((r) => r.id === '/admin/users')?.actions).toEqual(expect.arrayContaining(['limits', 'clear']));
	expect(routes.find((r) => r.id === '/api/worker')?.methods).toEqual(expect.arrayContaining(['GET', 'POST']));
});

test('every spelling of every GET answers as its plain spelling does, and the console reaches only its callers', async () => {
	test.setTimeout(240_000);
	let requests = 0;
	const failures: string[] = [];
	for (const route of routes) {
		if (!route.page && !route.methods.includes('GET')) continue;
		if (route.id === '/api/generations/[id]/events') continue; // a stream; its refusals are checked by the plain matrix
		const variants: Array<Spelling & { data?: boolean }> = spellings(route.path);
		if (route.page && route.path === '/') variants.push({ label: '__data.json', path: '/__data.json', same: true, data: true });
		else if (route.page) {
			for (const v of spellings(route.path).filter((s) => !s.label.startsWith('trailing slash'))) {
				variants.push({ ...v, label: `${v.label} + __data.json`, path: `${v.path}/__data.json`, data: true });
			}
		}
		for (const caller of ['anon', 'user', 'admin'] as const) {
			const plain = await send(caller, cookies, 'GET', route.path);
			const plainData = route.page ? await send(caller, cookies, 'GET', `${route.path === '/' ? '' : route.path}/__data.json`) : null;
			for (const variant of variants) {
				const answer = await send(caller, cookies, 'GET', variant.path);
				requests++;
				const where = `${caller} GET ${variant.path} (${route.id}, ${variant.label})`;
				const reference = variant.data ? plainData! : plain;
				if ((isConsole(route) && caller !== 'admin') || (isSignedIn(route) && caller === 'anon')) {
					if (leaked(answer)) failures.push(`${where}: ${answer.status}, reached`);
				}
				if (variant.label.startsWith('trailing slash')) {
					if (answer.status !== 308 && answer.status !== reference.status) failures.push(`${where}: ${answer.status}`);
				} else if (variant.same) {
					if (answer.status !== reference.status) failures.push(`${where}: ${answer.status}, plain ${reference.status}`);
				} else if (answer.status !== 404 && !(variant.data && answer.status === 200 && /"status":404/.test(answer.text))) {
					failures.push(`${where}: ${answer.status}, expected 404 (no such route)`);
				}
			}
			// The attack must be able to see a console page when it is reached.
			if (isConsole(route) && caller === 'admin' && route.page && route.id !== '/admin/jobs/[id]') expect(plain.status, route.id).toBe(200);
		}
	}
	console.log(`[router-attack] ${requests} GET requests over ${routes.length} routes`);
	expect(failures).toEqual([]);
});

/** Fields that would make each action do something if it were reached (ids of real rows). */
function fieldsFor(action: string, ids: { userId: string; jobId: string }): URLSearchParams {
	return new URLSearchParams({
		user_id: ids.userId, hourly_limit: '1000000', daily_limit: '1000000', model_id: 'local/preview', max_concurrency: '999',
		job_type: 'generate-image', reason: 'attack', budget_seconds: '1', op: 'cancel', confirm: '1', count: '1000',
		confirm_count: '1000', as_of: new Date(Date.now() + 3600_000).toISOString(), days: '1', id: ids.jobId, message: '',
		include_processing: 'on', prompt: 'attack', size: '512x512', seed_mode: 'random', email: 'x@example.test', password: 'x', action
	});
}

test('no refused action changes a table, however its path is spelled', async () => {
	test.setTimeout(300_000);
	const [adminRow] = await db<{ id: string }[]>`select id from auth.users where email = ${ADMIN.email}`;
	const [job] = await db<{ id: string }[]>`select id from job_queue order by created_at desc limit 1`;
	const ids = { userId: adminRow!.id, jobId: job?.id ?? '4b1c7a2e-9d3f-4e8a-b6c5-0f1e2d3c4b5a' };
	const failures: string[] = [];
	let requests = 0;
	for (const route of routes.filter((r) => isConsole(r) && r.actions.length > 0)) {
		for (const action of route.actions) {
			const before = await digestTables(db);
			for (const caller of ['anon', 'user'] as const) {
				for (const variant of spellings(route.path).filter((s) => s.same)) {
					// As a browser posts a form, and as enhance() posts it (asking for JSON).
					for (const accept of ['text/html', 'application/json']) {
						const query = action === 'default' ? '' : `?/${action}`;
						const answer = await send(caller, cookies, 'POST', `${variant.path}${query}`, fieldsFor(action, ids), accept);
						requests++;
						const expected = caller === 'anon' ? [401, 308] : [403, 308];
						if (!expected.includes(answer.status)) failures.push(`${caller} POST ${variant.path}${query} (${accept}): ${answer.status}`);
					}
				}
			}
			const after = await digestTables(db);
			for (const table of Object.keys(before)) {
				if (before[table] !== after[table]) failures.push(`${route.id} ?/${action}: ${table} changed`);
			}
		}
	}
	console.log(`[router-attack] ${requests} refused action requests`);
	expect(failures).toEqual([]);
});

test('the administrator reaches every console action by an encoded path too', async () => {
	// A harmless action per page, so the refusals above are refusals and not a broken test.
	const reached = await send('admin', cookies, 'POST', '/%61dmin/models?/enable', new URLSearchParams({ model_id: 'local/preview' }));
	expect(reached.status).toBe(200);
	expect(reached.text).toMatch(/local\/preview/);
	const counted = await send('admin', cookies, 'POST', '/%61dmin/worker?/purgePreview', new URLSearchParams({ days: '3650' }));
	expect(counted.status).toBe(200);
});

test('in Chromium: an encoded console path shows a plain user the refusal, and a visitor the sign-in page', async ({ page, browser }) => {
	await signUp(page, uniqueEmail('encoded'));
	const response = await page.goto('/%61dmin/users');
	expect(response!.status()).toBe(403);
	await expect(page.getByText('This area is for administrators')).toBeVisible();
	await expect(page.getByRole('table')).toHaveCount(0);
	await screenshotAtWidths(page, 'encoded-console-path-refused');
	const visitor = await browser.newContext();
	const anonymous = await visitor.newPage();
	await anonymous.goto('/%61dmin/us%65rs');
	await expect(anonymous).toHaveURL(/\/auth\/signin\?redirectTo=/);
	await visitor.close();
});
