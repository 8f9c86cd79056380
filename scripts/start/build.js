// npm start's build: `vite build` only when needed, its ~100 lines (plugin timings, chunk warnings,
// advice to run `npm run preview`, which is not how Picture runs) kept in a log file, shown only
// when the build fails.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { buildDecision, fingerprint, isBuilt, readStamp, writeStamp } from './freshness.js';

/** How much of a failed build's log is printed: the error and what led to it, not the whole run. */
export const TAIL_LINES = 40;

/**
 * The `vite` command of this project's own Vite, run with this Node.
 * @returns {[string, string]}
 */
function viteCommand() {
	const require = createRequire(import.meta.url);
	const packageJson = require.resolve('vite/package.json');
	const bin = /** @type {{ bin: { vite: string } }} */ (require('vite/package.json')).bin.vite;
	return [process.execPath, path.join(path.dirname(packageJson), bin)];
}

/**
 * Runs a command with its output (stdout and stderr, interleaved as written) in logFile.
 * @param {{ logFile: string, command?: [string, ...string[]], cwd?: string, env?: NodeJS.ProcessEnv }} options
 * @returns {Promise<{ ok: boolean, tail: string }>}
 */
export async function runLogged({ logFile, command = [...viteCommand(), 'build'], cwd = process.cwd(), env = process.env }) {
	// A file, and a failure's end printed as text: no terminal colour codes in either.
	env = { ...env, NO_COLOR: '1', FORCE_COLOR: '0' };
	await mkdir(path.dirname(logFile), { recursive: true, mode: 0o755 });
	const log = await open(logFile, 'w');
	let code;
	try {
		const child = spawn(command[0], command.slice(1), { cwd, env, stdio: ['ignore', log.fd, log.fd] });
		// once() rejects if the child emits 'error' instead (it could not be started).
		const [exitCode, signal] = await once(child, 'exit');
		code = exitCode ?? signal;
	} finally {
		await log.close();
	}
	if (code === 0) return { ok: true, tail: '' };
	// Rolldown's errors carry colour codes whatever NO_COLOR says.
	const lines = (await readFile(logFile, 'utf8')).replace(/\u001b\[[0-9;]*m/g, '').trimEnd().split('\n');
	return { ok: false, tail: `${lines.slice(-TAIL_LINES).join('\n')}\n(exit ${code})` };
}

/**
 * Builds into buildDir when the sources differ from what it was built from, then records them.
 * The fingerprint is taken before the build, so an edit made while it runs is built next time.
 * @param {{ root: string, buildDir: string, logFile: string, print?: (line: string) => void }} options
 * @returns {Promise<boolean>} whether it built
 */
export async function ensureBuilt({ root, buildDir, logFile, print = console.log }) {
	const sources = await fingerprint(root);
	const decision = buildDecision({ built: isBuilt(buildDir), stamp: await readStamp(buildDir), fingerprint: sources });
	if (!decision.build) return false;
	const shownLog = logFile.startsWith(root + path.sep) ? path.relative(root, logFile) : logFile;
	print(`Building the app (${decision.reason})… Vite's output goes to ${shownLog}`);
	const result = await runLogged({ logFile, cwd: root });
	if (!result.ok) {
		const error = new Error(`The build failed. The end of ${logFile}:\n\n${result.tail}`);
		error.name = 'BuildError';
		throw error;
	}
	await writeStamp(buildDir, sources);
	return true;
}
