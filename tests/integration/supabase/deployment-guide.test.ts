// docs/deployment.md's SQL, every block in the order the guide gives it, run with psql as written, as
// Supabase's non-superuser `postgres` on a database prepared as Supabase prepares a project's (with
// pg_cron loaded), after our migrations. The guide's curl calls run in tests/e2e/start/deployment-guide.e2e.ts.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createSql, type Sql } from '$lib/server/db/client';
import { migrate } from '$lib/server/db/migrate';
import { loadMigrations } from '../../support/db';
import { PG_CRON_LIBRARY, PSQL, startSystemPostgres, type SystemPostgres } from '../../support/system-postgres';

const run = promisify(execFile);
const GUIDE = path.resolve('docs/deployment.md');
// pg_net cannot be installed here, so its one `create extension` line is the only statement not run
// (tests/integration/supabase/cron.test.ts covers the schedule itself with a stand-in).
const NOT_INSTALLABLE = /^create extension if not exists pg_net.*$/im;

let cluster: SystemPostgres;
let admin: Sql;
let sql: Sql;
let workDir: string;
let blocks: string[];

beforeAll(async () => {
	if (!existsSync(PG_CRON_LIBRARY)) throw new Error(`pg_cron is missing (${PG_CRON_LIBRARY}): apt-get install -y postgresql-15-cron`);
	blocks = [...(await readFile(GUIDE, 'utf8')).matchAll(/^\s*```sql\n([\s\S]*?)^\s*```/gm)].map((m) => m[1]!.replace(/^ {3}/gm, ''));
	cluster = await startSystemPostgres({
		superuser: 'supabase_admin',
		packages: ['postgresql-15-cron'],
		settings: { shared_preload_libraries: 'pg_cron', 'cron.database_name': 'postgres', 'cron.host': '127.0.0.1' }
	});
	admin = createSql(cluster.url(), { max: 1 });
	await admin.unsafe(await readFile(path.resolve('tests/support/supabase-prepare.sql'), 'utf8'));
	// What the dashboard does when pg_cron is enabled (as the superuser), and supautils' storage grant.
	await admin.unsafe(`
		create extension pg_cron;
		grant usage on schema cron to postgres;
		grant select on all tables in schema cron to postgres;
		grant supabase_storage_admin to postgres;`);
	sql = createSql(cluster.url('postgres'), { max: 2 });
	await migrate(sql, await loadMigrations(), { bootstrap: false });
	workDir = await mkdtemp(path.join(tmpdir(), 'picture-guide-'));
}, 90_000);

afterAll(async () => {
	await sql?.end({ timeout: 5 });
	await admin?.end({ timeout: 5 });
	await cluster?.stop();
	if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** One block through psql, as an operator pastes it; stops at the first error. */
async function psql(block: string): Promise<string> {
	const file = path.join(workDir, 'block.sql');
	await writeFile(file, block);
	try {
		const { stdout } = await run(PSQL, ['-X', '-v', 'ON_ERROR_STOP=1', '-d', cluster.url('postgres'), '-f', file], { cwd: workDir });
		return stdout;
	} catch (error) {
		const e = error as { stderr?: string };
		throw new Error(`this block of docs/deployment.md failed:\n${block}\n${e.stderr ?? String(error)}`);
	}
}

test('the guide has its SQL blocks, and only pg_net is beyond this machine', () => {
	expect(blocks.length).toBeGreaterThanOrEqual(15);
	expect(blocks.filter((b) => NOT_INSTALLABLE.test(b))).toHaveLength(1);
});

test('every SQL block of the guide runs as written, in order, and answers what the guide says', async () => {
	const outputs: string[] = [];
	for (const block of blocks) outputs.push(await psql(block.replace(NOT_INSTALLABLE, '-- (pg_net: not installable here)')));
	const all = outputs.join('\n');

	// Section 2's verification answers.
	expect(outputs[0]).toMatch(/seed_columns\s*\n-+\n\s*15\n/);
	for (const name of ['enqueue_job', 'claim_next_job', 'complete_job', 'get_user_limits', 'start_generation']) {
		expect(all).toMatch(new RegExp(`${name}\\s*\\|\\s*FUNCTION`));
	}
	for (const view of ['failed_jobs_recent', 'queue_health', 'stuck_jobs']) expect(all).toMatch(new RegExp(`${view}\\s*\\|\\s*VIEW`));
	expect(all).toContain('Users can view their own jobs');
	expect(all).toContain('Service role has full access');
	expect(all).toMatch(/generations \| f/);
	expect(all).toMatch(/"can_generate"\s*:\s*true/);
	// The test job was enqueued (a uuid came back) and deleted again.
	expect(all).toMatch(/job_id\s*\n-+\n\s*[0-9a-f]{8}-[0-9a-f]{4}-/);
	expect((await sql`select count(*)::int as n from job_queue where payload->>'test' = 'true'`)[0]!.n).toBe(0);

	// Vault got both secrets, and the rotation updated the cron secret in place.
	const secrets = await admin`select name, secret from vault.secrets order by name`;
	expect(secrets).toEqual([
		{ name: 'picture_app_url', secret: 'https://picture.example.com' },
		{ name: 'picture_cron_secret', secret: 'replace-with-your-new-CRON_SECRET' }
	]);
	// The rollback paused and then resumed generate-image; \copy wrote its file.
	expect(await sql`select * from job_queue_paused_types`).toHaveLength(0);
	expect(existsSync(path.join(workDir, 'failed_jobs.csv'))).toBe(true);
});
