// A real PgBouncer in front of the test Postgres, for what a transaction pooler (Supabase's on port
// 6543) does to a client: no session state between transactions, no named prepared statements, no
// LISTEN. Debian's /usr/sbin/pgbouncer (apt package `pgbouncer`); it refuses to run as root.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSql, type TransactionSql } from '../../src/lib/server/db/client';
import { freePort } from '../../src/lib/server/db/embedded';

export const PGBOUNCER_BINARY = '/usr/sbin/pgbouncer';

export interface PgBouncerOptions {
	poolMode?: 'transaction' | 'session';
	/** Server connections per database and user: small, so transactions share and hop between them. */
	poolSize?: number;
}

export interface PgBouncer {
	port: number;
	/** The URL of `database` through the pooler, as a Supabase user would write it (`?pgbouncer=true`). */
	url(database: string): string;
	/** Everything PgBouncer logged so far. */
	output(): string;
	stop(): Promise<void>;
}

/** The uid and gid of the OS user `postgres`, whom PgBouncer runs as when we are root. */
function postgresUser(): { uid: number; gid: number } {
	const line = readFileSync('/etc/passwd', 'utf8')
		.split('\n')
		.find((entry) => entry.startsWith('postgres:'));
	if (!line) throw new Error('PgBouncer will not run as root, and there is no OS user "postgres" to run it as');
	const [, , uid, gid] = line.split(':');
	return { uid: Number(uid), gid: Number(gid) };
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** Starts PgBouncer in front of the Postgres server that serverUrl names (any database on it). */
export async function startPgBouncer(serverUrl: string, options: PgBouncerOptions = {}): Promise<PgBouncer> {
	if (!existsSync(PGBOUNCER_BINARY)) {
		throw new Error(`${PGBOUNCER_BINARY} is missing: install the apt package \`pgbouncer\` (apt-get install -y pgbouncer)`);
	}
	const server = new URL(serverUrl);
	const asRoot = process.getuid?.() === 0;
	const dir = await mkdtemp(path.join(tmpdir(), 'picture-pgbouncer-'));
	const owner = asRoot ? postgresUser() : null;
	if (owner) await chown(dir, owner.uid, owner.gid);
	await chmod(dir, 0o700);

	// Clients are not authenticated (auth_type any): every server login uses the test server's own
	// account, password included, which is why the folder is readable by PgBouncer's user alone.
	const login = [
		`host=${server.hostname.replace(/^\[|\]$/g, '')}`,
		`port=${server.port || 5432}`,
		`user=${quote(decodeURIComponent(server.username || 'postgres'))}`,
		...(server.password ? [`password=${quote(decodeURIComponent(server.password))}`] : [])
	].join(' ');
	const ini = path.join(dir, 'pgbouncer.ini');

	for (let attempt = 1; ; attempt++) {
		const port = await freePort();
		await writeFile(
			ini,
			[
				'[databases]',
				`* = ${login}`,
				'[pgbouncer]',
				'listen_addr = 127.0.0.1',
				`listen_port = ${port}`,
				'unix_socket_dir =',
				'auth_type = any',
				`pool_mode = ${options.poolMode ?? 'transaction'}`,
				`default_pool_size = ${options.poolSize ?? 2}`,
				'min_pool_size = 0',
				'reserve_pool_size = 0',
				'max_client_conn = 500',
				// Hand out server connections in turn, so consecutive transactions of one client land on different ones.
				'server_round_robin = 1',
				'ignore_startup_parameters = extra_float_digits',
				'log_connections = 0',
				'log_disconnections = 0',
				''
			].join('\n'),
			{ mode: 0o600 }
		);
		if (owner) await chown(ini, owner.uid, owner.gid);
		const bouncer = await launch(ini, owner, port, server.pathname.slice(1) || 'postgres');
		if (bouncer) {
			return {
				...bouncer,
				async stop() {
					await bouncer.stop();
					await rm(dir, { recursive: true, force: true });
				}
			};
		}
		// Someone else took the port between freePort() and PgBouncer's bind: try another one.
		if (attempt >= 3) throw new Error(`PgBouncer did not start in 3 attempts`);
	}
}

/** Runs PgBouncer and waits until it answers; null when the port was taken. */
async function launch(ini: string, owner: { uid: number; gid: number } | null, port: number, probeDatabase: string): Promise<PgBouncer | null> {
	const child: ChildProcess = spawn(PGBOUNCER_BINARY, [ini], {
		stdio: ['ignore', 'pipe', 'pipe'],
		...(owner ? { uid: owner.uid, gid: owner.gid } : {})
	});
	let output = '';
	child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
	child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
	const exited = new Promise<void>((resolve) =>
		child.once('exit', (code, signal) => {
			output += `(pgbouncer exited: ${signal ?? `code ${code}`})\n`;
			resolve();
		})
	);
	let running = true;
	// Should the test process end without stop() (a timeout, a crash), take PgBouncer with it.
	const killOnExit = () => child.kill('SIGKILL');
	process.once('exit', killOnExit);
	void exited.then(() => {
		running = false;
		process.off('exit', killOnExit);
	});

	const url = (database: string) => `postgres://picture@127.0.0.1:${port}/${database}?pgbouncer=true`;
	const stop = async () => {
		if (running) {
			child.kill('SIGTERM');
			await exited;
		}
	};

	// Ready when a query goes through it (to the database serverUrl names).
	const deadline = Date.now() + 15_000;
	for (;;) {
		if (!running) {
			if (/Address already in use/i.test(output)) return null;
			throw new Error(`PgBouncer exited at start:\n${output}`);
		}
		const probe = createSql(url(probeDatabase), { max: 1, transactionPooler: true });
		try {
			await probe`select 1`;
			return { port, url, output: () => output, stop };
		} catch (error) {
			if (Date.now() > deadline) {
				await stop();
				throw new Error(`PgBouncer did not answer within 15 s (${(error as Error).message}):\n${output}`);
			}
		} finally {
			await probe.end({ timeout: 1 });
		}
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/**
 * Runs query in a transaction on each of the `servers` server connections behind url, from a single
 * client (PgBouncer hands its consecutive transactions out in turn); the answers by backend pid.
 */
export async function onEachServer<T>(url: string, servers: number, query: (tx: TransactionSql) => Promise<T>): Promise<Map<number, T>> {
	const opener = createSql(url, { max: servers, transactionPooler: true });
	const client = createSql(url, { max: 1, transactionPooler: true });
	try {
		// `servers` transactions open at once: PgBouncer has to open every server connection for them.
		let inside = 0;
		let allInside = () => {};
		const barrier = new Promise<void>((resolve) => (allInside = resolve));
		await Promise.all(
			Array.from({ length: servers }, () =>
				opener.begin(async (tx) => {
					await tx`select 1`;
					if (++inside === servers) allInside();
					await barrier;
				})
			)
		);
		const answers = new Map<number, T>();
		for (let i = 0; i < servers * 10 && answers.size < servers; i++) {
			await client.begin(async (tx) => {
				const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
				answers.set(row!.pid, await query(tx));
			});
		}
		return answers;
	} finally {
		await opener.end();
		await client.end();
	}
}
