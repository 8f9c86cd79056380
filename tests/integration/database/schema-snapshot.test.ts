// What the schema looks like now, in one file: docs/schema.sql is pg_dump --schema-only of a
// database all migrations were applied to (on plain Postgres, with the bootstrap), normalised (no
// owners, no grants, no comments, no SET lines). It must match what the migrations make: change a
// migration or add one, and this fails until the snapshot is regenerated with
//   UPDATE_SCHEMA_SNAPSHOT=1 npx vitest run tests/integration/database/schema-snapshot.test.ts
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createSql } from '$lib/server/db/client';
import { migrate } from '$lib/server/db/migrate';
import { loadMigrations } from '../../support/db';
import { PG_BIN, startSystemPostgres, type SystemPostgres } from '../../support/system-postgres';

const run = promisify(execFile);
const SNAPSHOT = path.resolve('docs/schema.sql');
let cluster: SystemPostgres;

beforeAll(async () => {
	cluster = await startSystemPostgres();
}, 60_000);
afterAll(() => cluster?.stop());

/** pg_dump's text without what varies between machines and runs, blank runs squeezed. */
export function normaliseDump(dump: string): string {
	const kept = dump
		.split('\n')
		.filter((line) => !line.startsWith('--') && !/^SET |^SELECT pg_catalog\.set_config|^\\(un)?restrict /.test(line))
		.join('\n');
	return `${kept.replace(/\n{3,}/g, '\n\n').trim()}\n`;
}

test('docs/schema.sql is what the migrations make', async () => {
	const sql = createSql(cluster.url(), { max: 2 });
	try {
		await migrate(sql, await loadMigrations());
	} finally {
		await sql.end();
	}
	const { stdout } = await run(`${PG_BIN}/pg_dump`, ['--schema-only', '--no-owner', '--no-privileges', '--schema=public', '--schema=app_private', cluster.url()], {
		maxBuffer: 32 * 1024 * 1024
	});
	const header = '-- The schema the migrations make (generated: see tests/integration/database/schema-snapshot.test.ts). Do not edit by hand.\n\n';
	const current = header + normaliseDump(stdout);
	if (process.env.UPDATE_SCHEMA_SNAPSHOT) await writeFile(SNAPSHOT, current);
	const saved = await readFile(SNAPSHOT, 'utf8').catch(() => '');
	expect(current, 'the schema changed: regenerate docs/schema.sql (see the top of this test)').toBe(saved);
	// And it says what a reader looks for: the queue table with its seed columns and its claim index.
	expect(saved).toMatch(/CREATE TABLE public\.job_queue \(/);
	expect(saved).toMatch(/job_queue_pending_claim_idx/);
}, 120_000);
