// Whether `npm start` must build: a fingerprint of everything `vite build` reads, compared with the
// one npm start recorded in the build folder after its last successful build. Plain JavaScript, as
// npm start runs on Node alone.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** What the build is made of: the sources, the static files, the configuration and the dependency pins. */
export const BUILD_INPUTS = ['src', 'static', 'svelte.config.js', 'vite.config.ts', 'tsconfig.json', 'package.json', 'package-lock.json'];

/** In the build folder, so a `vite build` (which empties it) also forgets it: that build's sources are unknown. */
export const STAMP_FILE = '.picture-build.json';

/** @typedef {{ fingerprint: string, builtAt: string }} Stamp */
/** @typedef {{ build: boolean, reason: string }} Decision */

/**
 * The files under one input, relative to root with '/' separators, sorted; none when it is missing.
 * @param {string} root
 * @param {string} input
 */
async function filesOf(root, input) {
	const full = path.join(root, input);
	const info = await stat(full).catch(() => null);
	if (!info) return [];
	if (!info.isDirectory()) return [input];
	const entries = await readdir(full, { recursive: true, withFileTypes: true });
	return entries
		.filter((entry) => entry.isFile())
		.map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
		.sort();
}

/**
 * Contents, not modification times: a checkout, a copy or a `touch` that changes nothing costs no
 * build, and an edit is seen whatever the clock says. Names are hashed too (a rename is a change).
 * @param {string} root
 * @param {string[]} [inputs]
 * @returns {Promise<string>}
 */
export async function fingerprint(root, inputs = BUILD_INPUTS) {
	const hash = createHash('sha256');
	for (const input of inputs) {
		for (const file of await filesOf(root, input)) {
			const data = await readFile(path.join(root, file));
			hash.update(`${file}\0${data.length}\0`).update(data);
		}
	}
	return hash.digest('hex');
}

/**
 * @param {{ built: boolean, stamp: Stamp | null, fingerprint: string }} state
 * @returns {Decision}
 */
export function buildDecision({ built, stamp, fingerprint }) {
	if (!built) return { build: true, reason: 'first start: there is no build yet' };
	if (!stamp) return { build: true, reason: 'the build has no record of its sources, e.g. after `npm run build`' };
	if (stamp.fingerprint !== fingerprint) return { build: true, reason: 'the sources changed since the last build' };
	return { build: false, reason: 'the build is up to date' };
}

/** @param {string} buildDir */
export function isBuilt(buildDir) {
	return existsSync(path.join(buildDir, 'index.js')) && existsSync(path.join(buildDir, 'handler.js'));
}

/**
 * @param {string} buildDir
 * @returns {Promise<Stamp | null>}
 */
export async function readStamp(buildDir) {
	try {
		const stamp = JSON.parse(await readFile(path.join(buildDir, STAMP_FILE), 'utf8'));
		return typeof stamp?.fingerprint === 'string' ? stamp : null;
	} catch {
		return null;
	}
}

/**
 * @param {string} buildDir
 * @param {string} fingerprint
 */
export async function writeStamp(buildDir, fingerprint) {
	/** @type {Stamp} */
	const stamp = { fingerprint, builtAt: new Date().toISOString() };
	await writeFile(path.join(buildDir, STAMP_FILE), `${JSON.stringify(stamp)}\n`);
}
