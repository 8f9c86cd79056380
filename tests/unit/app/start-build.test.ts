// npm start builds only when what the build is made of changed since its last build, and keeps
// Vite's output in a log unless the build fails.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ensureBuilt, runLogged, TAIL_LINES } from '../../../scripts/start/build.js';
import { buildDecision, fingerprint, readStamp, STAMP_FILE, writeStamp } from '../../../scripts/start/freshness.js';

let root: string;
beforeEach(async () => {
	root = await mkdtemp(path.join(tmpdir(), 'picture-start-'));
	await mkdir(path.join(root, 'src/routes'), { recursive: true });
	await writeFile(path.join(root, 'src/routes/+page.svelte'), '<h1>Picture</h1>');
	await writeFile(path.join(root, 'src/app.css'), 'body {}');
	await writeFile(path.join(root, 'package-lock.json'), '{"lockfileVersion": 3}');
});
afterEach(async () => {
	await rm(root, { recursive: true, force: true });
});

describe('the decision', () => {
	const stamp = { fingerprint: 'abc', builtAt: '2025-01-01T00:00:00.000Z' };
	test.each([
		['no build at all', { built: false, stamp: null, fingerprint: 'abc' }, true, /first start/],
		['no build, though a stamp is somehow there', { built: false, stamp, fingerprint: 'abc' }, true, /first start/],
		['a build without a stamp (vite build)', { built: true, stamp: null, fingerprint: 'abc' }, true, /no record/],
		['a build of other sources', { built: true, stamp, fingerprint: 'abd' }, true, /sources changed/],
		['a build of these sources', { built: true, stamp, fingerprint: 'abc' }, false, /up to date/]
	])('%s', (_name, state, build, reason) => {
		const decision = buildDecision(state);
		expect(decision.build).toBe(build);
		expect(decision.reason).toMatch(reason);
	});
});

describe('the fingerprint', () => {
	test('is the same for the same contents, whatever the files’ times', async () => {
		const before = await fingerprint(root);
		const future = new Date(Date.now() + 3600_000);
		await utimes(path.join(root, 'src/app.css'), future, future); // a checkout or `touch`
		expect(await fingerprint(root)).toBe(before);
	});

	test('changes with a file’s contents, a new file, a rename, a deletion, and the lockfile', async () => {
		const seen = new Set([await fingerprint(root)]);
		const changes = [
			() => writeFile(path.join(root, 'src/app.css'), 'body { margin: 0 }'),
			() => writeFile(path.join(root, 'src/routes/+layout.svelte'), '<slot />'),
			() => rename(path.join(root, 'src/routes/+layout.svelte'), path.join(root, 'src/routes/+layout@.svelte')),
			() => rm(path.join(root, 'src/routes/+page.svelte')),
			() => mkdir(path.join(root, 'static')).then(() => writeFile(path.join(root, 'static/favicon.svg'), '<svg/>')),
			() => writeFile(path.join(root, 'package-lock.json'), '{"lockfileVersion": 3, "packages": {}}'),
			() => writeFile(path.join(root, 'svelte.config.js'), 'export default {}')
		];
		for (const change of changes) {
			await change();
			const next = await fingerprint(root);
			expect(seen.has(next)).toBe(false);
			seen.add(next);
		}
	});

	test('ignores what the build does not read', async () => {
		const before = await fingerprint(root);
		await mkdir(path.join(root, '.data'));
		await writeFile(path.join(root, '.data/build.log'), 'vite output');
		await writeFile(path.join(root, 'README.md'), '# Picture');
		expect(await fingerprint(root)).toBe(before);
	});
});

test('the stamp is read back as written; a missing or garbled one is none', async () => {
	const buildDir = path.join(root, 'build');
	await mkdir(buildDir);
	expect(await readStamp(buildDir)).toBeNull();
	await writeStamp(buildDir, 'f00d');
	expect(await readStamp(buildDir)).toMatchObject({ fingerprint: 'f00d' });
	await writeFile(path.join(buildDir, STAMP_FILE), '{ half');
	expect(await readStamp(buildDir)).toBeNull();
});

describe('the build', () => {
	test('keeps a command’s output in the log and, when it fails, hands back the end of it', async () => {
		const logFile = path.join(root, '.data/build.log');
		const script = `for (let i = 1; i <= 100; i++) console.log('line ' + i); console.error('the error'); process.exit(3)`;
		const result = await runLogged({ logFile, command: [process.execPath, '-e', script], cwd: root });
		expect(result.ok).toBe(false);
		expect(result.tail).toContain('the error');
		expect(result.tail).toContain('line 100');
		expect(result.tail).not.toContain('line 1\n');
		expect(result.tail.split('\n')).toHaveLength(TAIL_LINES + 1); // and the exit code
		expect(result.tail).toMatch(/exit 3/);
		expect(await readFile(logFile, 'utf8')).toContain('line 1\n');
	});

	test('a command that succeeds: ok, its output only in the log', async () => {
		const logFile = path.join(root, '.data/build.log');
		const result = await runLogged({ logFile, command: [process.execPath, '-e', "console.log('built')"], cwd: root });
		expect(result).toEqual({ ok: true, tail: '' });
		expect(await readFile(logFile, 'utf8')).toBe('built\n');
	});

	test('an up-to-date build is left alone: nothing printed, nothing run', async () => {
		const buildDir = path.join(root, 'build');
		await mkdir(buildDir);
		await writeFile(path.join(buildDir, 'index.js'), '');
		await writeFile(path.join(buildDir, 'handler.js'), '');
		await writeStamp(buildDir, await fingerprint(root));
		const printed: string[] = [];
		const logFile = path.join(root, '.data/build.log');
		expect(await ensureBuilt({ root, buildDir, logFile, print: (line) => printed.push(line) })).toBe(false);
		expect(printed).toEqual([]);
		expect(existsSync(logFile)).toBe(false);
	});

	test('a failing Vite build: one line before, the log’s end in the error, and no stamp', async () => {
		// Vite itself, in a folder that is no app: it fails as a broken app's build does.
		const buildDir = path.join(root, 'build');
		const logFile = path.join(root, '.data/build.log');
		const printed: string[] = [];
		const failure = await ensureBuilt({ root, buildDir, logFile, print: (line) => printed.push(line) }).catch((error: Error) => error);
		expect(failure).toBeInstanceOf(Error);
		expect((failure as Error).message).toContain(`The build failed. The end of ${logFile}`);
		expect((failure as Error).message).toMatch(/Build failed[\s\S]*exit 1/); // Vite's own words, then its exit code
		expect((failure as Error).message).not.toContain('\u001b['); // plain text, no colour codes
		expect(printed).toEqual(["Building the app (first start: there is no build yet)… Vite's output goes to .data/build.log"]);
		expect(await readFile(logFile, 'utf8')).not.toBe('');
		expect(await readStamp(buildDir)).toBeNull();
	}, 60_000);
});
