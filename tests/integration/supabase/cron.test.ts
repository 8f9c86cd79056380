// supabase/cron/*.sql run as written (with psql) against a real pg_cron, on a database prepared as
// Supabase prepares a project's; the request the job makes is then relayed to the real worker endpoint.
// pg_net is not installable here: a stand-in with pg_net's signature records the requests instead.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createSql, type Sql } from '$lib/server/db/client';
import { enqueueJob } from '$lib/server/queue';
import type { Services } from '$lib/server/runtime';
import { POST } from '$routes/api/worker/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { testServices } from '../../support/services';
import { PG_CRON_LIBRARY, runPsqlFile, startSystemPostgres, type SystemPostgres } from '../../support/system-postgres';

const SCHEDULE = path.resolve('supabase/cron/schedule-worker.sql');
const UNSCHEDULE = path.resolve('supabase/cron/unschedule-worker.sql');
const APP_URL = 'https://picture.example.test/';
const SECRET = 'cron-secret-kept-in-the-vault-0123';

// pg_net's net.http_post(url, body, params, headers, timeout_milliseconds) returns bigint: the same
// signature and answer, but the request is recorded in a queue table (as pg_net's own) and never sent.
const PG_NET_STAND_IN = `
	create schema net;
	create table net.http_request_queue (
	  id                   bigserial primary key,
	  method               text not null,
	  url                  text not null,
	  headers              jsonb not null,
	  body                 bytea,
	  timeout_milliseconds integer not null,
	  created_at           timestamptz not null default now()
	);
	create function net.http_post(
	  url text,
	  body jsonb default '{}'::jsonb,
	  params jsonb default '{}'::jsonb,
	  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
	  timeout_milliseconds integer default 5000
	) returns bigint
	language plpgsql security definer set search_path = net as $$
	declare
	  v_id bigint;
	  v_query text;
	begin
	  if url is null then
	    raise exception 'net.http_post: url must not be null';
	  end if;
	  select string_agg(format('%s=%s', key, value), '&') into v_query from jsonb_each_text(coalesce(params, '{}'));
	  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
	  values ('POST', url || coalesce('?' || v_query, ''), coalesce(headers, '{}'), convert_to(coalesce(body, 'null')::text, 'utf8'),
	          timeout_milliseconds)
	  returning id into v_id;
	  return v_id;
	end;
	$$;
	revoke all on function net.http_post(text, jsonb, jsonb, jsonb, integer) from public;
	grant usage on schema net to postgres, anon, authenticated, service_role;
	grant execute on function net.http_post(text, jsonb, jsonb, jsonb, integer) to postgres, anon, authenticated, service_role;`;

let cluster: SystemPostgres;
let admin: Sql; // supabase_admin, the superuser that creates extensions
let sql: Sql; // postgres, who runs the cron SQL as the dashboard's SQL editor would
let postgresUrl: string;

beforeAll(async () => {
	if (!existsSync(PG_CRON_LIBRARY)) {
		throw new Error(`pg_cron for Postgres 15 is missing (${PG_CRON_LIBRARY}): apt-get install -y postgresql-15-cron`);
	}
	cluster = await startSystemPostgres({
		superuser: 'supabase_admin',
		packages: ['postgresql-15-cron'],
		settings: { shared_preload_libraries: 'pg_cron', 'cron.database_name': 'postgres', 'cron.host': '127.0.0.1' }
	});
	postgresUrl = cluster.url('postgres');
	admin = createSql(cluster.url(), { max: 1 });
	await admin.unsafe(await readFile(path.resolve('tests/support/supabase-prepare.sql'), 'utf8'));
	// As on Supabase: the extension is created by the superuser, and postgres may use it.
	await admin.unsafe(`
		create extension pg_cron;
		grant usage on schema cron to postgres;
		grant select on all tables in schema cron to postgres;`);
	console.info('pg_net is not installable here: using a stand-in net.http_post that records requests instead of sending them');
	await admin.unsafe(PG_NET_STAND_IN);
	sql = createSql(postgresUrl, { max: 2 });
}, 60_000);

afterAll(async () => {
	await sql?.end({ timeout: 5 });
	await admin?.end({ timeout: 5 });
	await cluster?.stop();
});

/** Polls a database condition until it holds; pg_cron needs up to a minute, so every quarter second is enough. */
async function poll<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await check();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`no pg_cron run of picture-worker within ${timeoutMs / 1000} s`);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
}

async function workerJobs() {
	return sql`select jobid, jobname, schedule, command, username, active from cron.job where jobname = 'picture-worker'`;
}

test('scheduling refuses, and schedules nothing, until the Vault secrets exist', async () => {
	const result = await runPsqlFile(postgresUrl, SCHEDULE);
	expect(result.code).not.toBe(0);
	expect(result.stderr).toMatch(/Vault secret picture_app_url is missing/);
	expect(await workerJobs()).toEqual([]);
});

test('schedule-worker.sql schedules one picture-worker job every minute; running it again replaces it', async () => {
	// The Vault step of the file's instructions, as written there.
	await sql`select vault.create_secret(${APP_URL}, 'picture_app_url', 'Picture: base URL of the app')`;
	await sql`select vault.create_secret(${SECRET}, 'picture_cron_secret', 'Picture: worker endpoint token')`;

	const first = await runPsqlFile(postgresUrl, SCHEDULE);
	expect(first.stderr).toBe('');
	expect(first.code).toBe(0);
	const [job] = await workerJobs();
	expect(job).toMatchObject({ jobname: 'picture-worker', schedule: '* * * * *', username: 'postgres', active: true });
	// The secret is read from the Vault at every run, never written into the job.
	expect(job!.command).not.toContain(SECRET);

	const second = await runPsqlFile(postgresUrl, SCHEDULE);
	expect(second.code).toBe(0);
	const jobs = await workerJobs();
	expect(jobs).toHaveLength(1);
	expect(jobs[0]!.jobid).toBe(job!.jobid);
});

test(
	'pg_cron runs the job: it POSTs to /api/worker with the Vault secret (pg_net stand-in), and the real endpoint answers it',
	async () => {
		// pg_cron starts jobs at minute boundaries: wait for the next one, and a little more.
		const run = await poll(async () => {
			const [row] = await sql`
				select d.status, d.return_message from cron.job_run_details d join cron.job j using (jobid)
				where j.jobname = 'picture-worker' and d.status in ('succeeded', 'failed') order by d.start_time desc limit 1`;
			return row;
		}, 75_000);
		expect(run).toMatchObject({ status: 'succeeded' });

		const [request] = await admin`select method, url, headers, convert_from(body, 'utf8') as body, timeout_milliseconds
			from net.http_request_queue order by id desc limit 1`;
		expect(request).toMatchObject({
			method: 'POST',
			url: 'https://picture.example.test/api/worker',
			headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${SECRET}` },
			timeout_milliseconds: 65_000
		});
		expect(JSON.parse(request!.body)).toEqual({});

		// Relay exactly that request to the worker endpoint of an app whose CRON_SECRET is the Vault's.
		const db: TestDatabase = await createTestDatabase();
		try {
			const services: Services = await testServices(db, { noop: async () => {} }, { CRON_SECRET: SECRET });
			await Promise.all([enqueueJob(db.sql, 'noop'), enqueueJob(db.sql, 'noop')]);
			const url = new URL(request!.url);
			const relayed = new Request(url, { method: request!.method, headers: request!.headers, body: request!.body });
			const response = await POST({ request: relayed, url, params: {}, locals: { services, user: null } } as unknown as Parameters<
				typeof POST
			>[0]);
			expect(response.status).toBe(200);
			expect(await response.json()).toMatchObject({
				success: true,
				processed: 2,
				errors: 0,
				message: 'Processed 2 job(s) with 0 error(s)'
			});
		} finally {
			await db.drop();
		}
	},
	150_000
);

test('unschedule-worker.sql removes the job, and running it again is no error', async () => {
	const first = await runPsqlFile(postgresUrl, UNSCHEDULE);
	expect(first.code).toBe(0);
	expect(first.stdout).toMatch(/\(1 row\)/);
	expect(await workerJobs()).toEqual([]);
	const second = await runPsqlFile(postgresUrl, UNSCHEDULE);
	expect(second.stderr).toBe('');
	expect(second.code).toBe(0);
	expect(await workerJobs()).toEqual([]);
});
