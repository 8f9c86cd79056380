// Assembles Picture's server side from a Config: database (embedded or DATABASE_URL), migrations,
// job handlers and, in zero-setup mode, an in-process worker. Shared by the app and the CLIs, so it
// imports nothing from $app or $env.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { authSchemaIsGotrue, LocalAccountsUnavailableError } from './auth/local';
import type { Config } from './config';
import { createSql, redactUrl, type Sql } from './db/client';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded';
import { MigrationError, migrate, readMigrations, type Migration } from './db/migrate';
import { createProviders } from './providers';
import { createStorage } from './storage';
import { ensureImageBucket } from './storage/bucket';
import { ContinuousWorker } from './worker/continuous';
import { startAlertMonitor } from './monitoring/alerts';
import { createServices, type Services } from './services';

export type { Services } from './services';

export interface StartOptions {
	/** Where supabase/migrations lives; the current directory's by default. */
	migrationsDir?: string;
	/** Start a continuous worker in this process (config.worker.inProcess by default). */
	worker?: boolean;
	log?: (message: string) => void;
}

export interface OpenedDatabase {
	url: string;
	embedded: EmbeddedDatabase | null;
}

export async function openDatabase(config: Config, log: (message: string) => void): Promise<OpenedDatabase> {
	if (config.databaseUrl) return { url: config.databaseUrl, embedded: null };
	const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, log });
	return { url: embedded.url, embedded };
}

/** SESSION_SECRET, or one generated on first start and kept in DATA_DIR (so sessions survive restarts). */
export async function resolveSessionSecret(config: Config): Promise<string> {
	if (config.sessionSecret) return config.sessionSecret;
	const file = path.resolve(config.dataDir, 'session-secret');
	if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
	await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
	const secret = randomBytes(48).toString('base64url');
	await writeFile(file, secret, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
		if (error.code !== 'EEXIST') throw error;
	});
	return (await readFile(file, 'utf8')).trim();
}

/** The one line that says why this process polls: LISTEN, prepared statements and pipelining do not survive a transaction pooler. */
export function describeTransactionPooling(config: Config): string {
	return (
		`database: transaction pool mode, so no LISTEN/NOTIFY, prepared statements or pipelining: workers poll every ` +
		`${config.worker.pollSeconds} s and live progress is polled every second ` +
		`(set DATABASE_POOL_MODE=session if this is a direct or session-mode connection)`
	);
}

export async function startServices(config: Config, options: StartOptions = {}): Promise<Services> {
	const log = options.log ?? ((message: string) => console.log(`[picture] ${message}`));
	const { url, embedded } = await openDatabase(config, log);
	log(`database: ${redactUrl(url)}${embedded ? ' (embedded)' : ''}`);
	const transactionPooler = config.databasePoolMode === 'transaction';
	if (transactionPooler) log(describeTransactionPooling(config));
	const sql = createSql(url, { max: config.databasePoolSize, transactionPooler });

	const migrations = await readMigrations(options.migrationsDir ?? path.resolve('supabase/migrations'));
	let migrationError: string | null = null;
	/** The database could not be reached (as opposed to a history that disagrees): worth retrying. */
	let unreachable = false;
	const applyMigrations = async () => {
		const applied = await migrate(sql, migrations, { log });
		log(applied.length ? `applied ${applied.length} migration(s)` : `migrations current (${migrations.length})`);
	};
	try {
		await applyMigrations();
	} catch (error) {
		migrationError = (error as Error).message;
		unreachable = !(error instanceof MigrationError);
		log(`MIGRATIONS NOT APPLIED: ${migrationError}${unreachable ? ' (retrying until the database answers)' : ''}`);
	}

	const providers = createProviders(config);
	const storage = createStorage(config);
	const storageError = await storage.check().then(() => null, (error: Error) => error.message);
	if (storageError) {
		log(`IMAGE STORAGE UNUSABLE: ${storageError}. /api/health answers 503 and no worker runs in this process until that is fixed and it is restarted`);
	}
	const sessionSecret = await resolveSessionSecret(config);
	// Loaded only in Supabase mode, so local mode never pulls in supabase-js.
	const supabaseAuth = config.supabaseAuth
		? new (await import('./auth/supabase')).SupabaseAuth({ ...config.supabaseAuth, adminEmails: config.adminEmails, sql, log })
		: null;
	if (supabaseAuth) log(`accounts: Supabase Auth at ${supabaseAuth.url}`);
	let alertMonitor: ReturnType<typeof startAlertMonitor> | null = null;
	let retryTimer: NodeJS.Timeout | null = null;
	let closed = false;
	// A worker that cannot store images would only fail every job it claims.
	const wantsWorker = (options.worker ?? config.worker.inProcess) && !storageError;
	// What runs once the schema is current: the in-process worker, and the alert monitor (every
	// process watches the alerts; alert_state makes sure each change is announced once).
	const startBackground = async () => {
		if (wantsWorker) {
			const worker = new ContinuousWorker({ sql, handlers: services.handlers, ...services.worker.settings, log });
			await worker.start();
			services.worker.inProcess = worker;
			log(`in-process worker ${worker.workerId} started (${config.worker.concurrency} at a time)`);
		}
		alertMonitor = startAlertMonitor(sql, config, log);
		if (!supabaseAuth && (await authSchemaIsGotrue(sql).catch(() => false))) log(`accounts: ${new LocalAccountsUnavailableError().message}`);
		if (storage.kind === 'supabase') {
			const bucket = config.storage.bucket;
			const outcome = await ensureImageBucket(sql, bucket).catch((error: Error) => `failed: ${error.message}`);
			if (outcome !== 'ready') log(`storage: bucket ${bucket} on this database: ${outcome} (images are still stored through the Storage API)`);
		}
	};
	let settle: (ready: boolean) => void = () => {};
	const ready = new Promise<boolean>((resolve) => (settle = resolve));

	let closing: Promise<void> | null = null;
	const services: Services = {
		...createServices(config, { sql, databaseUrl: url, migrations, sessionSecret, providers, storage, supabaseAuth, migrationError, storageError, log }),
		whenReady: () => ready,
		close() {
			closing ??= (async () => {
				closed = true;
				if (retryTimer) clearTimeout(retryTimer);
				settle(false);
				await services.worker.inProcess?.stop(10_000).catch(() => {});
				await (alertMonitor as ReturnType<typeof startAlertMonitor> | null)?.stop().catch(() => {});
				await services.jobWaker.idle();
				await services.events.close();
				await sql.end({ timeout: 5 }).catch(() => {});
				await embedded?.stop().catch(() => {});
			})();
			return closing;
		}
	};

	if (!migrationError) {
		await startBackground();
		settle(true);
	} else if (unreachable) {
		// Started before the database was up (or while it restarts): keep trying, 1 s doubling to 30 s,
		// and come to life when it answers, instead of answering 503 until someone restarts us.
		const retry = (attempt: number) => {
			retryTimer = setTimeout(async () => {
				if (closed) return;
				try {
					await applyMigrations();
					services.migrationError = null;
					await startBackground();
					settle(true);
				} catch (error) {
					if (error instanceof MigrationError) {
						services.migrationError = error.message;
						log(`MIGRATIONS NOT APPLIED: ${error.message}`);
						settle(false);
					} else retry(attempt + 1);
				}
			}, Math.min(1000 * 2 ** attempt, 30_000));
		};
		retry(0);
	} else settle(false);
	return services;
}
