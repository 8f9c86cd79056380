// Hostile input against every endpoint and form action, through the app's real hooks: malformed
// and mistyped bodies, bodies over 1 MB, huge and control-laden text, injection strings, path
// traversal in ids, out-of-range and unsafe numbers. Each is refused with a 4xx and a message
// that says what is wrong, and leaves every table as it was. What looks hostile but is legitimate
// (unusual text, a body of exactly 1 MB) is accepted-input.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Services } from '$lib/server/runtime';
import { GET as listGenerations, POST as startGeneration } from '$routes/api/generations/+server';
import { DELETE as cancelGeneration, GET as getGeneration } from '$routes/api/generations/[id]/+server';
import { GET as generationEvents } from '$routes/api/generations/[id]/events/+server';
import { GET as generationImage } from '$routes/api/generations/[id]/image/+server';
import { GET as metrics } from '$routes/api/metrics/+server';
import { POST as replicateWebhook } from '$routes/api/webhooks/replicate/+server';
import { POST as worker } from '$routes/api/worker/+server';
import { GET as exportCsv } from '$routes/admin/export/[name].csv/+server';
import { actions as generateActions } from '$routes/(app)/generate/+page.server';
import { actions as generationActions } from '$routes/(app)/generations/[id]/+page.server';
import { load as historyLoad } from '$routes/(app)/history/+page.server';
import { actions as signInActions } from '$routes/auth/signin/+page.server';
import { actions as signUpActions } from '$routes/auth/signup/+page.server';
import { actions as failuresActions } from '$routes/admin/failures/+page.server';
import { actions as jobsActions, load as jobsLoad } from '$routes/admin/jobs/+page.server';
import { actions as jobActions, load as jobLoad } from '$routes/admin/jobs/[id]/+page.server';
import { actions as modelsActions } from '$routes/admin/models/+page.server';
import { actions as stuckActions } from '$routes/admin/stuck/+page.server';
import { actions as usersActions, load as usersLoad } from '$routes/admin/users/+page.server';
import { load as auditLoad } from '$routes/admin/audit/+page.server';
import { load as overviewLoad } from '$routes/admin/+page.server';
import { actions as workerActions, load as workerLoad } from '$routes/admin/worker/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { messageOf, signedWebhook as signedWebhookTo, snapshotTables } from '../../support/hostile';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { action, form, sessionCookie, throughHooks, type Route, type Send } from '../../support/through-hooks';

const CRON_SECRET = 'cron-secret-for-hostile-input-tests';
const WEBHOOK_SECRET = `whsec_${Buffer.from('hostile-input-webhook-key').toString('base64')}`;

let db: TestDatabase;
let services: Services;
let send: Send;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db, {}, { CRON_SECRET, REPLICATE_WEBHOOK_SECRET: WEBHOOK_SECRET, METRICS_TOKEN: 'metrics-token-0123456789' });
	send = await throughHooks(services);
	alice = await signedInUser(services);
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from generation_usage`; // usage outlives generations by design (0017)
	await db.sql`delete from job_queue`;
});

const snapshot = () => snapshotTables(db.sql);

const MB = 1024 * 1024;
const valid = { prompt: 'a lighthouse in a storm', model_id: 'local/preview', width: 512, height: 512 };
const json = (value: unknown) => JSON.stringify(value);
const asAlice = () => sessionCookie(alice.token);
const asAdmin = () => sessionCookie(admin.token);
const postJson = (body: string, headers: Record<string, string> = {}) =>
	send('/api/generations', startGeneration as Route, { method: 'POST', body, headers: { 'content-type': 'application/json', ...asAlice(), ...headers } });
/** A body sent in chunks with no Content-Length, as a streaming client would. */
function chunked(size: number): ReadableStream<Uint8Array> {
	let sent = 0;
	return new ReadableStream({
		pull(controller) {
			if (sent >= size) return controller.close();
			const chunk = new Uint8Array(Math.min(64 * 1024, size - sent)).fill(0x61);
			sent += chunk.length;
			controller.enqueue(chunk);
		}
	});
}
const generateForm = (fields: Record<string, string>) =>
	form({ prompt: 'a quiet harbour', model_id: 'local/preview', size: '512x512', seed_mode: 'random', ...fields });
const postAction = (path: string, actions: object, name: string, fields: Record<string, string | string[]>, user: Record<string, string> = asAdmin(), params = {}) =>
	send(`${path}?/${name}`, action(actions, name), { method: 'POST', body: form(fields), headers: user, params });
const get = (path: string, route: Route, params: Record<string, string> = {}, headers = asAlice()) => send(path, route, { params, headers });
const worstSeed = '9007199254740993'; // 2^53 + 1: a double cannot hold it

interface Case {
	name: string;
	run: () => Promise<{ status: number; body: unknown }>;
	status: number;
	message: RegExp;
	/** Tables this refusal may write: a failed sign-in counts towards the throttle. */
	mayWrite?: string[];
}

const cases: Case[] = [
	// POST /api/generations: shape and types
	{ name: 'api: malformed JSON', run: () => postJson('{"prompt": "a cat",'), status: 400, message: /must be JSON/ },
	{ name: 'api: JSON null', run: () => postJson('null'), status: 400, message: /JSON object/ },
	{ name: 'api: a JSON string', run: () => postJson('"draw a cat"'), status: 400, message: /JSON object/ },
	{ name: 'api: an empty body', run: () => postJson(''), status: 400, message: /must be JSON/ },
	{ name: 'api: prompt is a number', run: () => postJson(json({ ...valid, prompt: 42 })), status: 400, message: /prompt/ },
	{ name: 'api: prompt is an object', run: () => postJson(json({ ...valid, prompt: { $ne: null } })), status: 400, message: /prompt/ },
	{ name: 'api: width is text', run: () => postJson(json({ ...valid, width: 'wide' })), status: 400, message: /Width must be a whole number/ },
	{ name: 'api: width is true', run: () => postJson(json({ ...valid, width: true })), status: 400, message: /Width must be a whole number/ },
	{ name: 'api: width is an array', run: () => postJson(json({ ...valid, width: [512] })), status: 400, message: /Width must be a whole number/ },
	{ name: 'api: negative width', run: () => postJson(json({ ...valid, width: -512 })), status: 400, message: /Width must be a whole number|from 256/ },
	{ name: 'api: zero height', run: () => postJson(json({ ...valid, height: 0 })), status: 400, message: /Height must be from 256 to 1024/ },
	{ name: 'api: huge width', run: () => postJson(json({ ...valid, width: 1e12 })), status: 400, message: /Width must be from 256 to 1024/ },
	{ name: 'api: width 1e400 (Infinity)', run: () => postJson(`{"prompt":"x","model_id":"local/preview","width":1e400,"height":512}`), status: 400, message: /Width must be a whole number/ },
	{ name: 'api: seed 2^53+1 as a JSON number', run: () => postJson(`{"prompt":"x","model_id":"local/preview","width":512,"height":512,"seed":${worstSeed}}`), status: 400, message: /seed must be a whole number from 0 to 4294967295/ },
	{ name: 'api: seed of 30 digits as text', run: () => postJson(json({ ...valid, seed: '9'.repeat(30) })), status: 400, message: /seed must be a whole number/ },
	{ name: 'api: seed 1e20', run: () => postJson(json({ ...valid, seed: 1e20 })), status: 400, message: /seed must be a whole number/ },
	{ name: 'api: seed -1', run: () => postJson(json({ ...valid, seed: -1 })), status: 400, message: /seed must be a whole number/ },
	{ name: 'api: seed in hex text', run: () => postJson(json({ ...valid, seed: '0x10' })), status: 400, message: /seed must be a whole number/ },
	// Text
	{ name: 'api: a 100,000-character prompt', run: () => postJson(json({ ...valid, prompt: 'x'.repeat(100_000) })), status: 400, message: /100000 characters; the limit is 2000/ },
	{ name: 'api: 2,001 emoji', run: () => postJson(json({ ...valid, prompt: '🌊'.repeat(2001) })), status: 400, message: /2001 characters; the limit is 2000/ },
	{ name: 'api: a NUL in the prompt', run: () => postJson(json({ ...valid, prompt: 'a cat\u0000<script>' })), status: 400, message: /control character/ },
	{ name: 'api: a bell and an escape in the prompt', run: () => postJson(json({ ...valid, prompt: 'ring \u0007 \u001b[31m red' })), status: 400, message: /control character/ },
	{ name: 'api: a C1 control in the prompt', run: () => postJson(json({ ...valid, prompt: 'next \u0085 line' })), status: 400, message: /control character/ },
	{ name: 'api: a lone surrogate in the prompt', run: () => postJson('{"prompt":"broken \\ud800 text","model_id":"local/preview","width":512,"height":512}'), status: 400, message: /not valid Unicode/ },
	{ name: 'api: a NUL in the negative prompt', run: () => postJson(json({ ...valid, negative_prompt: 'blur\u0000' })), status: 400, message: /negative prompt contains a control character/ },
	{ name: 'api: a 100,000-character negative prompt', run: () => postJson(json({ ...valid, negative_prompt: 'n'.repeat(100_000) })), status: 400, message: /negative prompt is 100000 characters/ },
	{ name: 'api: a NUL in the model id', run: () => postJson(json({ ...valid, model_id: 'local/preview\u0000' })), status: 400, message: /model/ },
	{ name: 'api: a path as the model id', run: () => postJson(json({ ...valid, model_id: '../../etc/passwd' })), status: 400, message: /no model called/ },
	{ name: 'api: SQL as the model id', run: () => postJson(json({ ...valid, model_id: "local/preview' or '1'='1" })), status: 400, message: /no model called/ },
	{ name: 'api: a NUL in the idempotency key', run: () => postJson(json({ ...valid, idempotency_key: 'k\u0000' })), status: 400, message: /idempotency key/ },
	{ name: 'api: an idempotency key header of 300 characters', run: () => postJson(json(valid), { 'idempotency-key': 'k'.repeat(300) }), status: 400, message: /idempotency key/ },
	// Size
	{ name: 'api: a body over 1 MB (Content-Length)', run: () => postJson(json({ ...valid, prompt: 'x'.repeat(MB) })), status: 413, message: /larger than the limit of 1048576 bytes/ },
	{
		name: 'api: a chunked body over 1 MB (no Content-Length)',
		run: () => send('/api/generations', startGeneration as Route, { method: 'POST', body: chunked(MB + 1), headers: { 'content-type': 'application/json', ...asAlice() } }),
		status: 413,
		message: /larger than the limit/
	},
	{
		name: 'api: a declared Content-Length over 1 MB',
		run: () => send('/api/generations', startGeneration as Route, { method: 'POST', body: json(valid), headers: { 'content-length': String(MB + 1), ...asAlice() } }),
		status: 413,
		message: /larger than the limit/
	},
	{
		name: 'page: a form over 1 MB',
		run: () => send('/generate?/generate', action(generateActions, 'generate'), { method: 'POST', body: generateForm({ prompt: 'x'.repeat(MB + 10) }), headers: asAlice() }),
		status: 413,
		message: /^The request body is larger than the limit of 1048576 bytes \(1 MB\)$/
	},

	// GET /api/generations
	{ name: 'list: limit -1', run: () => get('/api/generations?limit=-1', listGenerations as Route), status: 400, message: /limit/ },
	{ name: 'list: limit 1e9', run: () => get('/api/generations?limit=1000000000', listGenerations as Route), status: 400, message: /limit/ },
	{ name: 'list: limit not a number', run: () => get('/api/generations?limit=ten', listGenerations as Route), status: 400, message: /limit/ },
	{ name: 'list: a forged cursor', run: () => get('/api/generations?cursor=%27%3B%20drop%20table%20job_queue', listGenerations as Route), status: 400, message: /cursor/ },
	{ name: 'list: a NUL cursor', run: () => get('/api/generations?cursor=%00', listGenerations as Route), status: 400, message: /NUL character/ },
	{ name: 'list: an unknown status', run: () => get('/api/generations?status=%3Cscript%3E', listGenerations as Route), status: 400, message: /status/ },
	{ name: 'list: a NUL status', run: () => get('/api/generations?status=%00', listGenerations as Route), status: 400, message: /NUL character/ },
	{ name: 'history: an unknown status', run: () => get('/history?status=%3Cb%3E', historyLoad as Route), status: 400, message: /status/ },

	// Ids: traversal, encoded NULs, not uuids
	...['..%2F..%2Fetc%2Fpasswd', '../../etc/passwd', '%00', 'abc\u0000', 'not-a-uuid', "1' or '1'='1", '00000000-0000-0000-0000-000000000000/../x'].flatMap(
		(id): Case[] => [
			{ name: `image: id ${JSON.stringify(id)}`, run: () => get(`/api/generations/x/image`, generationImage as Route, { id }), status: 404, message: /No such image/ },
			{ name: `get: id ${JSON.stringify(id)}`, run: () => get(`/api/generations/x`, getGeneration as Route, { id }), status: 404, message: /No such generation/ },
			{ name: `cancel: id ${JSON.stringify(id)}`, run: () => send('/api/generations/x', cancelGeneration as Route, { method: 'DELETE', params: { id }, headers: asAlice() }), status: 404, message: /No such generation/ },
			{ name: `events: id ${JSON.stringify(id)}`, run: () => get(`/api/generations/x/events`, generationEvents as Route, { id }), status: 404, message: /No such generation/ },
			{ name: `page cancel: id ${JSON.stringify(id)}`, run: () => postAction('/generations/x', generationActions, 'cancel', {}, asAlice(), { id }), status: 404, message: /No such generation/ },
			{ name: `page delete: id ${JSON.stringify(id)}`, run: () => postAction('/generations/x', generationActions, 'delete', {}, asAlice(), { id }), status: 404, message: /No such generation/ },
			{ name: `page vary: id ${JSON.stringify(id)}`, run: () => postAction('/generations/x', generationActions, 'vary', {}, asAlice(), { id }), status: 404, message: /No such generation/ },
			{ name: `admin job page: id ${JSON.stringify(id)}`, run: () => get('/admin/jobs/x', jobLoad as Route, { id }, asAdmin()), status: 404, message: /No job/ },
			{ name: `admin job retry: id ${JSON.stringify(id)}`, run: () => postAction('/admin/jobs/x', jobActions, 'retry', { id }, asAdmin(), { id }), status: 400, message: /is not a job id|NUL character/ }
		]
	),
	{ name: 'image: ?size= traversal is only a size', run: () => get(`/api/generations/x/image?size=..%2F..%2Fetc%2Fpasswd`, generationImage as Route, { id: crypto.randomUUID() }), status: 404, message: /No such image/ },
	{ name: 'export: a traversal name', run: () => get('/admin/export/x.csv', exportCsv as Route, { name: '../../etc/passwd' }, asAdmin()), status: 404, message: /export/i },

	// The cron, metrics and webhook endpoints
	{ name: 'worker: a wrong secret', run: () => send('/api/worker', worker as Route, { method: 'POST', headers: { authorization: 'Bearer wrong' } }), status: 401, message: /cron secret/ },
	...['-1', '0', '1e3', worstSeed, 'NaN', '3.5'].map(
		(budget): Case => ({
			name: `worker: budget_seconds=${budget}`,
			run: () => send(`/api/worker?budget_seconds=${budget}`, worker as Route, { method: 'POST', headers: { authorization: `Bearer ${CRON_SECRET}` } }),
			status: 400,
			message: /budget_seconds must be a whole number/
		})
	),
	{ name: 'metrics: a wrong token', run: () => send('/api/metrics', metrics as Route, { headers: { authorization: 'Bearer nope' } }), status: 401, message: /METRICS_TOKEN/ },
	{ name: 'webhook: unsigned', run: () => send('/api/webhooks/replicate', replicateWebhook as Route, { method: 'POST', body: json({ id: 'p1', status: 'succeeded' }) }), status: 401, message: /Webhook refused/ },
	{ name: 'webhook: signed but not JSON', run: () => signedWebhook('{"id": "p1",'), status: 400, message: /not JSON/ },
	{ name: 'webhook: signed JSON null', run: () => signedWebhook('null'), status: 400, message: /prediction object/ },
	{ name: 'webhook: over 1 MB', run: () => signedWebhook(json({ id: 'p1', logs: 'x'.repeat(MB) })), status: 413, message: /larger than the limit/ },

	{
		name: 'page: a malformed multipart form',
		run: () => send('/auth/signin', action(signInActions, 'default'), { method: 'POST', body: '--x\r\nbroken', headers: { 'content-type': 'multipart/form-data; boundary=x' } }),
		status: 400,
		message: /form body is malformed/
	},
	{
		name: 'page: a form with a NUL in a field name',
		run: () => send('/auth/signin', action(signInActions, 'default'), { method: 'POST', body: 'email%00=a&password=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
		status: 400,
		message: /NUL character/
	},

	// Sign in and sign up
	{ name: 'signup: an email of 100,000 characters', run: () => postAction('/auth/signup', signUpActions, 'default', { email: `${'a'.repeat(100_000)}@x.test`, password: 'long-enough-password' }, {}), status: 400, message: /valid email/ },
	{ name: 'signup: a NUL in the email', run: () => postAction('/auth/signup', signUpActions, 'default', { email: 'nul\u0000@x.test', password: 'long-enough-password' }, {}), status: 400, message: /NUL character/ },
	{ name: 'signup: HTML as the email', run: () => postAction('/auth/signup', signUpActions, 'default', { email: '<script>alert(1)</script>', password: 'long-enough-password' }, {}), status: 400, message: /valid email/ },
	{ name: 'signup: SQL as the email', run: () => postAction('/auth/signup', signUpActions, 'default', { email: "x' or 1=1 --", password: 'long-enough-password' }, {}), status: 400, message: /valid email/ },
	{ name: 'signup: a 100,000-character password', run: () => postAction('/auth/signup', signUpActions, 'default', { email: 'long-password@x.test', password: 'p'.repeat(100_000) }, {}), status: 400, message: /limited to/ },
	{ name: 'signup: no fields', run: () => postAction('/auth/signup', signUpActions, 'default', {}, {}), status: 400, message: /valid email/ },
	{ name: 'signin: no fields', run: () => postAction('/auth/signin', signInActions, 'default', {}, {}), status: 400, message: /email and password/ },
	{ name: 'signin: a NUL in the email', run: () => postAction('/auth/signin', signInActions, 'default', { email: 'a\u0000@x.test', password: 'whatever-password' }, {}), status: 400, message: /NUL character/ },
	{ name: 'signin: a 100,000-character password', run: () => postAction('/auth/signin', signInActions, 'default', { email: 'nobody@x.test', password: 'p'.repeat(100_000) }, {}), status: 400, message: /do not match an account/, mayWrite: ['app_private.sign_in_failures'] },

	// The generate form
	{ name: 'generate: a NUL in the prompt', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ prompt: 'cat\u0000' }), asAlice()), status: 400, message: /NUL character/ },
	{ name: 'generate: 100,000 characters', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ prompt: 'y'.repeat(100_000) }), asAlice()), status: 400, message: /the limit is 2000/ },
	{ name: 'generate: a seed of 30 digits', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ seed_mode: 'fixed', seed: '9'.repeat(30) }), asAlice()), status: 400, message: /seed must be a whole number/ },
	{ name: 'generate: seed 2^53+1', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ seed_mode: 'fixed', seed: worstSeed }), asAlice()), status: 400, message: /seed must be a whole number/ },
	{ name: 'generate: seed -5', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ seed_mode: 'fixed', seed: '-5' }), asAlice()), status: 400, message: /seed must be a whole number/ },
	{ name: 'generate: custom width -512', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ size: 'custom', width: '-512', height: '512' }), asAlice()), status: 400, message: /Width must be a whole number/ },
	{ name: 'generate: custom width of 30 digits', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ size: 'custom', width: '9'.repeat(30), height: '512' }), asAlice()), status: 400, message: /Width must be a whole number/ },
	{ name: 'generate: a traversal as the size', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ size: '../../etc', width: '', height: '' }), asAlice()), status: 400, message: /Width must be a whole number/ },
	{ name: 'generate: an unknown model', run: () => postAction('/generate', generateActions, 'generate', fieldsOf({ model_id: '<img src=x onerror=alert(1)>' }), asAlice()), status: 400, message: /no model called/ },

	// The console's actions
	{ name: 'jobs bulk: an unknown op', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'drop' }), status: 400, message: /Choose retry or cancel/ },
	{ name: 'jobs bulk: an unknown status', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'retry', status: "failed' or 1=1" }), status: 400, message: /Unknown status/ },
	{ name: 'jobs bulk: an impossible date', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'retry', from: '2026-02-30' }), status: 400, message: /date|from/i },
	{ name: 'jobs bulk: a NUL in the search', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'cancel', q: 'a\u0000b' }), status: 400, message: /NUL character/ },
	{ name: 'jobs bulk: a negative confirmed count', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'retry', confirm: '1', count: '-1', as_of: '2026-01-01T00:00:00Z' }), status: 400, message: /confirmation is incomplete/ },
	{ name: 'jobs bulk: count 2^53+1', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'retry', confirm: '1', count: worstSeed, as_of: '2026-01-01T00:00:00Z' }), status: 400, message: /confirmation/ },
	{ name: 'jobs page: a NUL in the search', run: () => get('/admin/jobs?q=a%00b', jobsLoad as Route, {}, asAdmin()), status: 400, message: /NUL character/ },
	{ name: 'jobs page: an impossible date', run: () => get('/admin/jobs?from=2026-13-45', jobsLoad as Route, {}, asAdmin()), status: 200, message: /date|from/i },
	// The job list's ticked rows, its search and its export
	{ name: 'jobs selection: nothing ticked', run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'retry' }), status: 400, message: /Tick the jobs to act on first/ },
	{ name: 'jobs selection: a traversal id', run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'retry', id: '../../etc/passwd' }), status: 400, message: /is not a job id/ },
	{ name: 'jobs selection: SQL as an id', run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'cancel', id: ["1' or '1'='1", crypto.randomUUID()] }), status: 400, message: /is not a job id/ },
	{ name: 'jobs selection: a NUL in an id', run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'retry', id: `${crypto.randomUUID()}\u0000` }), status: 400, message: /NUL character/ },
	{
		// As a browser posts a form (urlencoded, about 400 kB): it reaches the action, which refuses it.
		name: 'jobs selection: 10,000 ids',
		run: () => {
			const body = new URLSearchParams([['op', 'cancel'], ['confirm', '1'], ['count', '1'], ...Array.from({ length: 10_000 }, () => ['id', crypto.randomUUID()])]);
			return send('/admin/jobs?/selection', action(jobsActions, 'selection'), { method: 'POST', body, headers: asAdmin() });
		},
		status: 400,
		message: /at most 500/
	},
	{
		name: 'jobs selection: 10,000 ids as multipart (over 1 MB)',
		run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'cancel', confirm: '1', count: '1', id: Array.from({ length: 10_000 }, () => crypto.randomUUID()) }),
		status: 413,
		message: /larger than the limit/
	},
	{ name: 'jobs selection: 501 ids', run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'retry', id: Array.from({ length: 501 }, () => crypto.randomUUID()) }), status: 400, message: /at most 500/ },
	{ name: 'jobs selection: an unknown op', run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'delete', id: crypto.randomUUID() }), status: 400, message: /Choose retry or cancel/ },
	{ name: 'jobs selection: a negative confirmed count', run: () => postAction('/admin/jobs', jobsActions, 'selection', { op: 'retry', id: crypto.randomUUID(), confirm: '1', count: '-1' }), status: 400, message: /confirmation is incomplete/ },
	{ name: 'jobs bulk: a search of 100,000 characters', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'retry', q: 'q'.repeat(100_000) }), status: 400, message: /longer than 200/ },
	{ name: 'jobs bulk: a search of two characters', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'cancel', q: 'ab' }), status: 400, message: /at least 3 letters or digits/ },
	{ name: 'jobs bulk: a search of wildcards only', run: () => postAction('/admin/jobs', jobsActions, 'bulk', { op: 'cancel', q: '%%%_' }), status: 400, message: /at least 3 letters or digits/ },
	{ name: 'jobs page: a search of 100,000 characters', run: () => get(`/admin/jobs?q=${'q'.repeat(100_000)}`, jobsLoad as Route, {}, asAdmin()), status: 200, message: /longer than 200/ },
	{ name: 'jobs page: a search of one character', run: () => get('/admin/jobs?q=a', jobsLoad as Route, {}, asAdmin()), status: 200, message: /at least 3 letters or digits/ },
	{ name: 'jobs page: wildcards are searched literally', run: () => get('/admin/jobs?q=%25%25%25abc%25_', jobsLoad as Route, {}, asAdmin()), status: 200, message: /^$/ },
	{ name: 'jobs export: a NUL in the search', run: () => get('/admin/export/jobs.csv?q=abc%00', exportCsv as Route, { name: 'jobs' }, asAdmin()), status: 400, message: /NUL character/ },
	{ name: 'jobs export: a search of two characters', run: () => get('/admin/export/jobs.csv?q=ab', exportCsv as Route, { name: 'jobs' }, asAdmin()), status: 400, message: /at least 3 letters or digits/ },
	{ name: 'jobs export: an unknown status', run: () => get('/admin/export/jobs.csv?status=%3Cscript%3E', exportCsv as Route, { name: 'jobs' }, asAdmin()), status: 400, message: /Unknown status/ },
	{ name: 'job retry: the owner-cancel box with a hostile value is just unticked', run: () => postAction('/admin/jobs/x', jobActions, 'retry', { id: crypto.randomUUID(), include_owner_cancelled: "on' or 1=1" }, asAdmin(), { id: crypto.randomUUID() }), status: 404, message: /No job/ },
	{ name: 'failures: no message', run: () => postAction('/admin/failures', failuresActions, 'retryGroup', {}), status: 400, message: /Choose a failure group/ },
	{ name: 'failures: a 30,000-character message', run: () => postAction('/admin/failures', failuresActions, 'retryGroup', { message: 'm'.repeat(30_000) }), status: 400, message: /too long/ },
	{ name: 'failures: a NUL in the message', run: () => postAction('/admin/failures', failuresActions, 'retryGroup', { message: 'boom\u0000' }), status: 400, message: /NUL character/ },
	{ name: 'failures: count -3', run: () => postAction('/admin/failures', failuresActions, 'retryGroup', { message: 'boom', confirm: '1', count: '-3', as_of: '2026-01-01T00:00:00Z' }), status: 400, message: /confirmation is incomplete/ },
	{ name: 'stuck reset: nothing ticked', run: () => postAction('/admin/stuck', stuckActions, 'reset', {}), status: 400, message: /Select the stuck jobs/ },
	{ name: 'stuck reset: a traversal id', run: () => postAction('/admin/stuck', stuckActions, 'reset', { id: '../../etc/passwd' }), status: 400, message: /is not a job id/ },
	{ name: 'stuck reset: 501 ids', run: () => postAction('/admin/stuck', stuckActions, 'reset', { id: Array.from({ length: 501 }, () => crypto.randomUUID()) }), status: 400, message: /at most 500/ },
	{ name: 'stuck reset all: count -5', run: () => postAction('/admin/stuck', stuckActions, 'resetAll', { confirm: '1', count: '-5' }), status: 400, message: /confirmation is incomplete/ },
	{ name: 'stuck reset all: count 2^53+1', run: () => postAction('/admin/stuck', stuckActions, 'resetAll', { confirm: '1', count: worstSeed }), status: 400, message: /confirmation is incomplete/ },
	{ name: 'models enable: a NUL in the id', run: () => postAction('/admin/models', modelsActions, 'enable', { model_id: 'local/preview\u0000' }), status: 400, message: /NUL character/ },
	{ name: 'models disable: HTML as the id', run: () => postAction('/admin/models', modelsActions, 'disable', { model_id: '<script>alert(1)</script>' }), status: 404, message: /No model/ },
	{ name: 'models disable: 100,000 characters', run: () => postAction('/admin/models', modelsActions, 'disable', { model_id: 'm'.repeat(100_000) }), status: 404, message: /No (such )?model/ },
	...['-1', '0', '1.5', '1e3', worstSeed, '9'.repeat(30), 'ten'].map(
		(value): Case => ({
			name: `models concurrency: ${value.length > 20 ? `${value.length} digits` : value}`,
			run: () => postAction('/admin/models', modelsActions, 'concurrency', { model_id: 'local/preview', max_concurrency: value }),
			status: 400,
			message: /whole number from 1 to 1000/
		})
	),
	{ name: 'users limits: a traversal id', run: () => postAction('/admin/users', usersActions, 'limits', { user_id: '../../etc/passwd', hourly_limit: '5' }), status: 404, message: /No such user/ },
	{ name: 'users limits: hourly -1', run: () => postAction('/admin/users', usersActions, 'limits', { user_id: crypto.randomUUID(), hourly_limit: '-1' }), status: 400, message: /hourly limit must be a whole number/ },
	{ name: 'users limits: daily 2^53+1', run: () => postAction('/admin/users', usersActions, 'limits', { user_id: crypto.randomUUID(), daily_limit: worstSeed }), status: 400, message: /daily limit must be a whole number/ },
	...['-1', 'NaN', 'Infinity', '1e3', worstSeed, 'free', '0.1234567'].map(
		(value): Case => ({
			name: `models price: ${value}`,
			run: () => postAction('/admin/models', modelsActions, 'price', { model_id: 'local/preview', cost_per_second: value }),
			status: 400,
			message: /price per second must be an amount in dollars from 0 to 100/
		})
	),
	...['-1', 'NaN', 'Infinity', '1e3', worstSeed, 'lots', '1.999'].flatMap((value): Case[] =>
		['daily_budget_usd', 'monthly_budget_usd'].map((field) => ({
			name: `users limits: ${field} ${value}`,
			run: () => postAction('/admin/users', usersActions, 'limits', { user_id: crypto.randomUUID(), [field]: value }),
			status: 400,
			message: /budget must be an amount in dollars from 0 to 1000000/
		}))
	),
	{ name: 'users clear: a NUL id', run: () => postAction('/admin/users', usersActions, 'clear', { user_id: '\u0000' }), status: 400, message: /NUL character/ },
	{ name: 'users page: a NUL in the search', run: () => get('/admin/users?q=%00', usersLoad as Route, {}, asAdmin()), status: 400, message: /NUL character/ },
	{ name: 'users page: SQL in the search, a traversal cursor', run: () => get("/admin/users?q=%25'%20or%201%3D1--&before=..%2F", usersLoad as Route, {}, asAdmin()), status: 200, message: /^$/ },
	{ name: 'audit page: a hostile cursor', run: () => get('/admin/audit?before=-1%27', auditLoad as Route, {}, asAdmin()), status: 200, message: /^$/ },
	// The overview's history: range, job type and model are allowlists.
	...[
		['an unknown range', 'range=1y', /Range must be one of 24h, 7d, 30d/],
		['a range by its inherited name', 'range=__proto__', /Range must be one of/],
		['two ranges', 'range=7d&range=30d', /Give range once/],
		['a NUL range', 'range=%00', /NUL character/],
		['an unregistered job type', 'type=%3Cscript%3E', /Job type must be one of/],
		['SQL as the job type', "type=generate-image'%20or%20'1'%3D'1", /Job type must be one of/],
		['a model outside the catalogue', 'model=..%2F..%2Fetc%2Fpasswd', /Model must be one in the catalogue/],
		['SQL as the model', "model=local%2Fpreview'--", /Model must be one in the catalogue/]
	].map(([what, query, message]) => ({
		name: `overview history: ${what as string}`,
		run: () => get(`/admin?${query as string}`, overviewLoad as Route, {}, asAdmin()),
		status: 400,
		message: message as RegExp
	})),
	{ name: 'worker page: an unknown trigger', run: () => get('/admin/worker?trigger=%3Cscript%3E', workerLoad as Route, {}, asAdmin()), status: 400, message: /Trigger must be one of/ },
	{ name: 'worker page: a forged cursor is ignored', run: () => get('/admin/worker?before=1%27%20or%201%3D1', workerLoad as Route, {}, asAdmin()), status: 200, message: /^$/ },
	{ name: 'worker page: a NUL cursor', run: () => get('/admin/worker?before=%00', workerLoad as Route, {}, asAdmin()), status: 400, message: /NUL character/ },
	...['-1', '0', worstSeed, 'soon'].map(
		(budget): Case => ({ name: `worker run: budget ${budget}`, run: () => postAction('/admin/worker', workerActions, 'run', { budget_seconds: budget }), status: 400, message: /whole number from 1 to/ })
	),
	{ name: 'worker pause: no type', run: () => postAction('/admin/worker', workerActions, 'pause', { job_type: '' }), status: 400, message: /Name a job type/ },
	{ name: 'worker pause: 129 characters', run: () => postAction('/admin/worker', workerActions, 'pause', { job_type: 't'.repeat(129) }), status: 400, message: /Name a job type/ },
	{ name: 'worker pause: a NUL in the type', run: () => postAction('/admin/worker', workerActions, 'pause', { job_type: 'generate-image\u0000' }), status: 400, message: /NUL character/ },
	{ name: 'worker pause: a NUL in the reason', run: () => postAction('/admin/worker', workerActions, 'pause', { job_type: 'generate-image', reason: 'why\u0000' }), status: 400, message: /NUL character/ },
	{ name: 'worker resume: a NUL in the type', run: () => postAction('/admin/worker', workerActions, 'resume', { job_type: '\u0000' }), status: 400, message: /NUL character/ },
	{ name: 'worker cancel: no count taken', run: () => postAction('/admin/worker', workerActions, 'cancel', { confirm_count: '1' }), status: 400, message: /Count the jobs to cancel first/ },
	{ name: 'worker cancel: as_of not a time', run: () => postAction('/admin/worker', workerActions, 'cancel', { as_of: "now'; --", confirm_count: '0' }), status: 400, message: /Count the jobs to cancel first/ },
	{ name: 'worker cancel: confirm_count -1', run: () => postAction('/admin/worker', workerActions, 'cancel', { as_of: '2026-01-01T00:00:00Z', confirm_count: '-1' }), status: 400, message: /confirmed count must be a whole number/ },
	{ name: 'worker cancel: confirm_count 2^53+1', run: () => postAction('/admin/worker', workerActions, 'cancel', { as_of: '2026-01-01T00:00:00Z', confirm_count: worstSeed }), status: 400, message: /confirmed count must be a whole number/ },
	...['-1', '0', '99999999', worstSeed].map(
		(days): Case => ({ name: `worker purge preview: days ${days}`, run: () => postAction('/admin/worker', workerActions, 'purgePreview', { days }), status: 400, message: /Days must be a whole number from 1 to 3650/ })
	),
	{ name: 'worker purge: confirm_count 1e3', run: () => postAction('/admin/worker', workerActions, 'purge', { days: '30', confirm_count: '1e3' }), status: 400, message: /confirmed count must be a whole number/ }
];

function fieldsOf(fields: Record<string, string>): Record<string, string> {
	return { prompt: 'a quiet harbour', model_id: 'local/preview', size: '512x512', seed_mode: 'random', ...fields };
}

const signedWebhook = (body: string) => signedWebhookTo(send, WEBHOOK_SECRET, body);

describe('refused, with a message, writing nothing', () => {
	test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
		const before = await snapshot();
		const answer = await c.run();
		expect({ status: answer.status, message: messageOf(answer.body) }).toMatchObject({ status: c.status, message: expect.stringMatching(c.message) });
		const after = await snapshot();
		for (const table of c.mayWrite ?? []) delete after[table], delete before[table];
		expect(after).toEqual(before);
	});
});
