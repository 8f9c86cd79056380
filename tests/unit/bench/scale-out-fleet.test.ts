// The scale-out bench starts apps and workers that may start processes of their own: stopping one
// must leave nothing behind, and the CPU it reports must come from /proc as it is.
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { named, startChild } from '../../../bench/scale-out-fleet';
import { processCpuMs } from '../../../bench/scale-out-probe';

const alive = (pid: number) => {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
};

/** A parent that starts a grandchild, reports its pid and keeps running (ignoring SIGTERM, as a stuck process would). */
const PARENT = `
	const { spawn } = require('node:child_process');
	const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
	process.on('SIGTERM', () => {});
	console.log('grandchild ' + grandchild.pid);
	setInterval(() => {}, 1000);`;

test('stop() ends the child and what the child started, even a child that ignores SIGTERM', async () => {
	const child = await startChild('test parent', ['-e', PARENT], {}, async (output) => /grandchild \d+/.test(output));
	const ps = spawnSync('ps', ['-o', 'pid=', '--ppid', String(child.pid)], { encoding: 'utf8' });
	const grandchild = Number(ps.stdout.trim().split(/\s+/)[0]);
	expect(grandchild).toBeGreaterThan(0);
	expect(alive(child.pid)).toBe(true);
	expect(alive(grandchild)).toBe(true);
	await child.stop();
	expect(alive(child.pid)).toBe(false);
	// The grandchild was in the same process group: killed with it, then reaped by init.
	for (let i = 0; i < 100 && alive(grandchild); i++) await new Promise((resolve) => setImmediate(resolve));
	const state = spawnSync('ps', ['-o', 'stat=', '-p', String(grandchild)], { encoding: 'utf8' }).stdout.trim();
	expect(state === '' || state.startsWith('Z')).toBe(true);
}, 30_000);

test('a child that exits before it is ready is reported with its output', async () => {
	await expect(startChild('broken', ['-e', 'console.error("no database"); process.exit(3)'], {}, async () => false)).rejects.toThrow(
		/broken did not start: no database/
	);
});

test('each process gets its own application_name in the URL, keeping what was there', () => {
	expect(named('postgres://u:p@db:5432/picture?sslmode=require', 'picture-app-2')).toBe(
		'postgres://u:p@db:5432/picture?sslmode=require&application_name=picture-app-2'
	);
});

test('CPU time comes from /proc: this process has used some, a gone process none', () => {
	let spin = 0;
	for (let i = 0; i < 5e6; i++) spin += i;
	expect(spin).toBeGreaterThan(0);
	expect(processCpuMs(process.pid)).toBeGreaterThan(0);
	expect(processCpuMs(2 ** 30)).toBeNaN();
});
