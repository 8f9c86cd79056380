// The line npm start ends with says where to click, where the data is, and who runs the jobs: in
// each configuration the README's table describes.
import path from 'node:path';
import { expect, test } from 'vitest';
import { startLine } from '../../../scripts/start/line.js';
import { loadConfig, type Env } from '$lib/server/config';

const origin = 'http://localhost:3000';
const line = (env: Env, state: { worker?: boolean; storageError?: string } = {}) => {
	const config = loadConfig(env);
	// The worker's presence is all the line looks at; a running one is an object.
	const inProcess = (state.worker ?? config.worker.inProcess) ? ({} as never) : null;
	return startLine({ origin, services: { config, worker: { inProcess } as never, storageError: state.storageError ?? null }, env });
};

test('zero setup: the data folder, absolute, and the worker inside the app', () => {
	expect(line({})).toBe(`Picture is running at ${origin} · data in ${path.resolve('.data')} · worker inside the app`);
	expect(line({ DATA_DIR: '/srv/picture' })).toContain('data in /srv/picture ·');
});

test('CRON_SECRET turns the in-process worker off, and the line says so and how to have one anyway', () => {
	expect(line({ CRON_SECRET: 'a-cron-secret-long-enough' })).toMatch(
		/ · worker: off in the app because CRON_SECRET is set \(cron calls POST \/api\/worker; IN_PROCESS_WORKER=on runs one here too\)$/
	);
	expect(line({ CRON_SECRET: 'a-cron-secret-long-enough', IN_PROCESS_WORKER: 'on' })).toMatch(/ · worker inside the app$/);
});

test('IN_PROCESS_WORKER=off names itself, with the other two ways to run jobs', () => {
	expect(line({ IN_PROCESS_WORKER: 'off' })).toMatch(/ · worker: off \(IN_PROCESS_WORKER=off\): run `npm run worker`, or have cron call POST \/api\/worker$/);
});

test('a worker that could not start says why', () => {
	expect(line({}, { worker: false, storageError: 'cannot store images in /x' })).toMatch(/worker: off, images cannot be stored \(see above\)$/);
	expect(line({}, { worker: false })).toMatch(/worker: not running, the database is not ready/);
});

test('with DATABASE_URL: the database without its password, and where images go', () => {
	const url = 'postgres://postgres:s3cret@db.example.com:5432/picture';
	const text = line({ DATABASE_URL: url, IMAGE_DIR: '/var/images' });
	expect(text).toContain('database db.example.com:5432/picture, images in /var/images');
	expect(text).not.toContain('s3cret');
	expect(line({ DATABASE_URL: url, PUBLIC_SUPABASE_URL: 'https://p.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k' })).toContain('images in Supabase Storage');
});
