// A throwaway cluster of the system's Postgres 15 (Debian's postgresql-15), for tests that need what the
// embedded one cannot give: a chosen bootstrap superuser (supabase_admin, as on Supabase) and pg_cron.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const PG_CRON_LIBRARY = '/usr/lib/postgresql/15/lib/pg_cron.so';
/** psql as Debian ships it; the versioned one first (it is the same program). */
export const PSQL = existsSync(`${PG_BIN}/psql`) ? `${PG_BIN}/psql` : '/usr/bin/psql';

export interface SystemPostgres {
	host: string;
	port: number;
	superuser: string;
	dir: string;
	/** A URL for a role and database of this cluster (trust authentication: no password). */
	url(user?: string, database?: string): string;
	stop(): Promise<void>;
}

export interface SystemPostgresOptions {
	/** The bootstrap superuser initdb creates (Supabase's is supabase_admin). */
	superuser?: string;
	/** Extra server settings (-c name=value). */
	settings?: Record<string, string>;
	/** Apt packages the settings need, named in the error if the server does not start. */
	packages?: string[];
}

async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as { port: number };
			server.close(() => resolve(port));
		});
	});
}

async function uidOf(user: string): Promise<{ uid: number; gid: number }> {
	const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
	return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

export async function startSystemPostgres(options: SystemPostgresOptions = {}): Promise<SystemPostgres> {
	const superuser = options.superuser ?? 'postgres';
	const packages = ['postgresql-15', ...(options.packages ?? [])];
	const hint = `(Debian packages needed: apt-get install -y ${packages.join(' ')})`;
	if (!existsSync(`${PG_BIN}/initdb`)) throw new Error(`System Postgres 15 is not installed at ${PG_BIN} ${hint}`);

	const dir = await mkdtemp(path.join(tmpdir(), 'picture-syspg-'));
	await chmod(dir, 0o755);
	// The server refuses to run as root: as root, the cluster belongs to the OS user postgres.
	const root = process.getuid?.() === 0;
	if (root) {
		const owner = await uidOf('postgres');
		await chown(dir, owner.uid, owner.gid);
	}
	const data = path.join(dir, 'data');
	const port = await freePort();
	const asPostgres = (command: string, args: string[]) =>
		root ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);

	const settings: Record<string, string> = {
		listen_addresses: '127.0.0.1',
		port: String(port),
		unix_socket_directories: dir,
		fsync: 'off',
		synchronous_commit: 'off',
		full_page_writes: 'off',
		...options.settings
	};
	const flags = Object.entries(settings)
		.map(([name, value]) => `-c ${name}=${value}`)
		.join(' ');

	try {
		await asPostgres(`${PG_BIN}/initdb`, ['-D', data, '-U', superuser, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
		await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', path.join(dir, 'log'), '-o', flags, '-w', '-t', '30', 'start']);
	} catch (error) {
		const log = await readFile(path.join(dir, 'log'), 'utf8').catch(() => '');
		await rm(dir, { recursive: true, force: true });
		throw new Error(`The system Postgres 15 cluster did not start ${hint}:\n${(error as Error).message}\n${log}`, {
			cause: error
		});
	}

	return {
		host: '127.0.0.1',
		port,
		superuser,
		dir,
		url: (user = superuser, database = 'postgres') => `postgres://${user}@127.0.0.1:${port}/${database}`,
		async stop() {
			await asPostgres(`${PG_BIN}/pg_ctl`, ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
			await rm(dir, { recursive: true, force: true });
		}
	};
}

export interface PsqlResult {
	code: number;
	stdout: string;
	stderr: string;
}

/** Runs a SQL file with psql as written (stopping at the first error), as an operator would. */
export async function runPsqlFile(url: string, file: string): Promise<PsqlResult> {
	try {
		const { stdout, stderr } = await run(PSQL, ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file]);
		return { code: 0, stdout, stderr };
	} catch (error) {
		const e = error as { code?: number; stdout?: string; stderr?: string };
		return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
	}
}
