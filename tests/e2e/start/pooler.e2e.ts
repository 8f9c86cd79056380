// The built app behind a real PgBouncer in transaction mode (what Supabase's transaction pooler does
// to a client: no LISTEN, no prepared statements, no session state): a user generates in Chromium and
// the progress bar still moves and ends with the image, carried by polling instead of NOTIFY.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { createSql } from '../../../src/lib/server/db/client';
import { startEmbeddedPostgres } from '../../../src/lib/server/db/embedded';
import { startPgBouncer, type PgBouncer } from '../../support/pgbouncer';
import { startApp, type AppProcess } from '../../support/app-process';
import { movedPartway, recordProgress } from '../../support/browser-generate';
import { screenshotAtWidths } from '../../support/browser';

const DATABASE = 'picture_pooler';
let dataDir: string;
let stopPostgres = async () => {};
let pooler: PgBouncer;
let app: AppProcess;

test.beforeAll(async () => {
	test.setTimeout(120_000);
	dataDir = await mkdtemp(path.join(tmpdir(), 'picture-pooler-'));
	await chmod(dataDir, 0o755);
	let serverUrl: string;
	if (process.env.E2E_DATABASE_URL) {
		// CI's fallback server: a database of our own on it.
		const admin = createSql(process.env.E2E_DATABASE_URL, { max: 1 });
		await admin.unsafe(`drop database if exists ${DATABASE} with (force)`);
		await admin.unsafe(`create database ${DATABASE}`);
		await admin.end();
		serverUrl = process.env.E2E_DATABASE_URL;
	} else {
		const server = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'db'), database: DATABASE });
		serverUrl = server.url;
		stopPostgres = server.stop;
	}
	pooler = await startPgBouncer(serverUrl, { poolMode: 'transaction', poolSize: 2 });
	app = await startApp({
		DATA_DIR: path.join(dataDir, 'app'),
		// ?pgbouncer=true: the app detects the transaction pooler, as it would Supabase's on port 6543.
		DATABASE_URL: pooler.url(DATABASE),
		IN_PROCESS_WORKER: 'on',
		LOCAL_MODEL_MS_PER_IMAGE: '3000'
	});
});

test.afterAll(async () => {
	await app?.stop();
	await pooler?.stop();
	await stopPostgres();
	if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('through a transaction pooler, a generation shows live progress and its image in the browser', async ({ page }) => {
	test.setTimeout(120_000);
	expect(app.output()).toMatch(/transaction pool/i);
	const progressValues = await recordProgress(page);
	await page.goto(`${app.origin}/auth/signup`);
	await page.getByLabel('Email').fill('pooled@picture.test');
	await page.getByLabel('Password').fill('pooled-password-123');
	await page.getByRole('button', { name: 'Create account' }).click();
	await expect(page).toHaveURL(/\/generate$/);

	await page.getByLabel('Prompt', { exact: true }).fill('A harbour at dawn, seen through a transaction pooler');
	await page.getByRole('radio', { name: /^Local detailed/ }).check();
	await page.getByRole('button', { name: 'Generate' }).click();
	const card = page.getByTestId('generation-card').first();
	await expect.poll(async () => movedPartway(await progressValues()), { timeout: 30_000 }).toBe(true);
	await expect(card.getByTestId('status')).toHaveAttribute('data-status', 'completed', { timeout: 30_000 });
	await expect(card.getByRole('img')).toHaveJSProperty('complete', true);
	await screenshotAtWidths(page, 'pooler-generate-completed');

	// No errors from the pooler's limits in the app's log (prepared statements, LISTEN, pipelining).
	const sinceListening = app.output().split('Listening on')[1] ?? '';
	expect(sinceListening).not.toMatch(/prepared statement|unsupported startup parameter|UNSAFE_TRANSACTION|unhandled|error/i);
});
