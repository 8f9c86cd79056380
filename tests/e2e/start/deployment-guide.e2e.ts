// docs/deployment.md's shell commands that talk to a running app (sections 1, 5 and 6), run with
// bash exactly as the guide prints them, against the built app with a cron secret and local accounts.
// The Supabase token command runs against the local stand-in for Supabase Auth.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from '@playwright/test';
import { startFakeSupabaseAuth, type FakeSupabaseAuth } from '../../support/fake-supabase-auth';
import { startApp, type AppProcess } from '../../support/app-process';

const run = promisify(execFile);
const CRON_SECRET = 'guide-cron-secret-0123456789abcdef';
const METRICS_TOKEN = 'guide-metrics-token-0123456789';
// Unique per run: CI may share one database between runs of the suite.
const EMAIL = `guide-${Date.now().toString(36)}@picture.test`;
const PASSWORD = 'a guide password';

let app: AppProcess;
let auth: FakeSupabaseAuth;
let dataDir: string;
let workDir: string;
let blocks: string[];

test.beforeAll(async () => {
	const guide = await readFile(path.resolve('docs/deployment.md'), 'utf8');
	blocks = [...guide.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
	dataDir = await mkdtemp(path.join(tmpdir(), 'picture-guide-app-'));
	await chmod(dataDir, 0o755);
	workDir = await mkdtemp(path.join(tmpdir(), 'picture-guide-sh-'));
	auth = await startFakeSupabaseAuth();
	app = await startApp(
		{ DATA_DIR: dataDir, CRON_SECRET, METRICS_TOKEN, IN_PROCESS_WORKER: 'on', LOCAL_MODEL_MS_PER_IMAGE: '300' },
		{ embedded: !process.env.E2E_DATABASE_URL }
	);
	// The account the guide signs in with (the guide's users sign up in the browser).
	const signUp = await fetch(`${app.origin}/auth/signup`, {
		method: 'POST',
		headers: { origin: app.origin, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
		body: new URLSearchParams({ email: EMAIL, password: PASSWORD })
	});
	expect(await signUp.json()).toMatchObject({ type: 'redirect', location: '/generate' });
});

test.afterAll(async () => {
	await app?.stop();
	await auth?.close();
	await rm(dataDir, { recursive: true, force: true });
	await rm(workDir, { recursive: true, force: true });
});

/** The one block of the guide that contains marker; it must be there exactly once. */
function block(marker: string): string {
	const found = blocks.filter((b) => b.includes(marker));
	expect(found, `one sh block of docs/deployment.md contains ${marker}`).toHaveLength(1);
	return found[0]!;
}

async function bash(script: string, env: Record<string, string> = {}): Promise<string> {
	const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
		cwd: workDir,
		env: { ...process.env, APP_URL: app.origin, CRON_SECRET, METRICS_TOKEN, EMAIL, PASSWORD, ...env }
	});
	return stdout;
}

test("the guide's commands work as written against the running app", async () => {
	test.setTimeout(120_000);
	const secrets = (await bash(block('openssl rand'))).trim().split('\n');
	expect(secrets).toHaveLength(2);
	for (const secret of secrets) expect(secret).toMatch(/^[0-9a-f]{64}$/);

	expect(JSON.parse(await bash(block('/api/health'))).status).toBe('ok');
	expect(JSON.parse(await bash(block('/api/worker?budget_seconds=5')))).toMatchObject({ success: true, errors: 0 });

	await bash(block('"$APP_URL/auth/signin"'));
	const created = JSON.parse(await bash(block('-X POST "$APP_URL/api/generations"')));
	expect(created).toMatchObject({ success: true, status: 'queued' });

	const follow = await bash(block('/events"'), { GENERATION_ID: created.generation_id });
	expect(follow).toContain('event: generation');
	// The stream ended because the generation did; the second command then reads it completed.
	const final = JSON.parse(follow.slice(follow.lastIndexOf('\n{')));
	expect(final).toMatchObject({ id: created.generation_id, status: 'completed' });

	expect(await bash(block('/api/metrics"'))).toContain('# TYPE picture_queue_jobs gauge');
});

test("the guide's Supabase token command takes an access token from Supabase Auth", async () => {
	// The guide's placeholder credentials, as someone trying it literally would send them.
	const user = auth.addUser({ email: 'you@example.com', password: 'your password' });
	const script = `${block('auth/v1/token')}\necho "$TOKEN"`;
	const token = (await bash(script, { PUBLIC_SUPABASE_URL: auth.url, ANON_KEY: auth.anonKey })).trim();
	expect(token.split('.')).toHaveLength(3);
	expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).email).toBe(user.email);
});
