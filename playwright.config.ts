// End-to-end tests drive the built app (`vite build` first) in Debian's Chromium.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineConfig, devices } from '@playwright/test';

// Chosen once in the main process; worker processes inherit them through the environment.
process.env.PICTURE_E2E_PORT ??= execFileSync(process.execPath, [
	'-e',
	"const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
])
	.toString()
	.trim();
if (!process.env.PICTURE_E2E_DATA_DIR) {
	process.env.PICTURE_E2E_DATA_DIR = mkdtempSync(path.join(tmpdir(), 'picture-e2e-'));
	chmodSync(process.env.PICTURE_E2E_DATA_DIR, 0o755); // the embedded server runs as user postgres
}
const port = Number(process.env.PICTURE_E2E_PORT);
const baseURL = `http://127.0.0.1:${port}`;

export const chromium = {
	executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
	args: [
		'--headless',
		'--no-sandbox',
		'--disable-gpu',
		'--disable-background-networking',
		'--disable-component-update',
		'--disable-sync',
		'--no-first-run',
		'--disable-quic'
	]
};

export default defineConfig({
	testDir: 'tests/e2e',
	testMatch: '**/*.e2e.ts',
	outputDir: 'test-results',
	fullyParallel: false,
	workers: 1,
	retries: 0,
	timeout: 60_000,
	reporter: process.env.PLAYWRIGHT_JSON
		? [['list'], ['json', { outputFile: process.env.PLAYWRIGHT_JSON }]]
		: [['list']],
	use: {
		baseURL,
		trace: 'retain-on-failure',
		launchOptions: chromium
	},
	projects: [
		// Creates the administrator first, so no test's user becomes "the first account".
		{ name: 'setup', testMatch: /accounts\.setup\.ts/, use: { launchOptions: chromium } },
		{ name: 'chromium', dependencies: ['setup'], use: { ...devices['Desktop Chrome'], launchOptions: chromium } }
	],
	webServer: {
		command: `node ${process.env.BUILD_DIR ?? 'build'}`,
		url: `${baseURL}/api/health`,
		timeout: 120_000,
		reuseExistingServer: false,
		stdout: 'pipe',
		env: {
			PORT: String(port),
			HOST: '127.0.0.1',
			ORIGIN: baseURL,
			BODY_SIZE_LIMIT: '2M', // as scripts/start.js sets it: the app's own 1 MB rule answers first
			DATA_DIR: process.env.PICTURE_E2E_DATA_DIR,
			// The built-in model at a pace where progress is visible but tests stay quick.
			LOCAL_MODEL_MS_PER_IMAGE: '1500',
			// The console's environment badge (amber); tests/e2e/console/header.e2e.ts starts a production one.
			PICTURE_ENVIRONMENT: 'staging',
			...(process.env.E2E_DATABASE_URL ? { DATABASE_URL: process.env.E2E_DATABASE_URL } : {})
		}
	}
});
