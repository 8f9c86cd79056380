// `npm start` as a person runs it: the first start builds, quietly (one line, Vite's output in a
// log); the next finds the build up to date and does not build again; each ends with one line
// naming the address to open. In a build folder of its own, so the suite's build is not touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { freePort } from '../../support/app-process';

interface Started {
	child: ChildProcess;
	stdout(): string;
	stderr(): string;
}

async function npmStart(env: Record<string, string>): Promise<Started> {
	const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
	for (const name of ['DATABASE_URL', 'CRON_SECRET', 'IN_PROCESS_WORKER', 'ORIGIN']) delete childEnv[name];
	// What `npm start` runs (package.json), without npm in between, so the signal reaches the app.
	const child = spawn(process.execPath, ['scripts/start.js'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
	let stdout = '';
	let stderr = '';
	child.stdout!.on('data', (chunk) => (stdout += chunk));
	child.stderr!.on('data', (chunk) => (stderr += chunk));
	return { child, stdout: () => stdout, stderr: () => stderr };
}

async function untilHealthy(port: number, started: Started) {
	await expect
		.poll(async () => {
			if (started.child.exitCode !== null) throw new Error(`npm start exited:\n${started.stdout()}\n${started.stderr()}`);
			return (await fetch(`http://127.0.0.1:${port}/api/health`).catch(() => null))?.status ?? 0;
		}, { timeout: 180_000, intervals: [250] })
		.toBe(200);
	// The line comes once the server listens, which may be a moment after the first answer.
	await expect.poll(() => started.stdout(), { timeout: 10_000 }).toContain('Picture is running at');
}

async function stop(started: Started) {
	if (started.child.exitCode !== null) return;
	const exited = once(started.child, 'exit');
	started.child.kill('SIGTERM');
	await exited;
}

test('npm start builds once, quietly, then starts without building, each time ending with one line to click', async () => {
	test.setTimeout(300_000);
	const pkg = JSON.parse(await readFile('package.json', 'utf8'));
	expect(pkg.scripts.start).toBe('node scripts/start.js');
	expect(pkg.scripts.prestart).toBeUndefined();

	const id = randomBytes(4).toString('hex');
	const buildDir = `build-start-${id}`; // inside the project, so the build finds node_modules
	const kitDir = `.svelte-kit-start-${id}`;
	const dataDir = await mkdtemp(path.join(tmpdir(), 'picture-start-'));
	await chmod(dataDir, 0o755); // the embedded server runs as the OS user postgres
	const env = { BUILD_DIR: buildDir, SVELTEKIT_OUT_DIR: kitDir, DATA_DIR: dataDir, HOST: '127.0.0.1' };
	const expectedLine = (port: number) => `Picture is running at http://localhost:${port} · data in ${dataDir} · worker inside the app`;
	const running: Started[] = [];
	try {
		const firstPort = await freePort();
		const first = await npmStart({ ...env, PORT: String(firstPort) });
		running.push(first);
		await untilHealthy(firstPort, first);
		const firstLines = first.stdout().trimEnd().split('\n');
		expect(firstLines[0]).toBe(`Building the app (first start: there is no build yet)… Vite's output goes to ${path.join(dataDir, 'build.log')}`);
		expect(firstLines.filter((line) => line.startsWith('Building'))).toHaveLength(1);
		expect(firstLines.at(-1)).toBe(expectedLine(firstPort));
		// Only the app's own lines between the two: none of Vite's.
		expect(firstLines.slice(1, -1).every((line) => line.startsWith('[picture] '))).toBe(true);
		expect(first.stdout()).not.toMatch(/vite v|built in|npm run preview|Listening on/);
		expect(await readFile(path.join(dataDir, 'build.log'), 'utf8')).toMatch(/built in/);
		expect(existsSync(path.join(buildDir, '.picture-build.json'))).toBe(true);
		await stop(first);

		const secondPort = await freePort();
		const second = await npmStart({ ...env, PORT: String(secondPort) });
		running.push(second);
		await untilHealthy(secondPort, second);
		const lines = second.stdout().trimEnd().split('\n');
		expect(second.stdout()).not.toContain('Building');
		expect(lines.filter((line) => line.includes('Picture is running at'))).toEqual([expectedLine(secondPort)]);
		expect(lines.at(-1)).toBe(expectedLine(secondPort));
		expect(second.stdout()).not.toContain('Listening on');
		expect(second.stderr()).toBe('');
		await stop(second);
		expect(second.child.exitCode).not.toBeNull();
	} finally {
		for (const started of running) await stop(started);
		await rm(buildDir, { recursive: true, force: true });
		await rm(kitDir, { recursive: true, force: true });
		await rm(dataDir, { recursive: true, force: true });
	}
});
