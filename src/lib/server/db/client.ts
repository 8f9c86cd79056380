// The one module that creates database pools. The driver is postgres.js 3.4.9 with two fixes for a
// server that goes away under an open transaction (patches/postgres+3.4.9.patch, applied by
// patch-package at install; CONTRIBUTING.md says why this driver and these patches).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import postgres from 'postgres';

export type Sql = postgres.Sql<Record<string, never>>;
export type TransactionSql = postgres.TransactionSql<Record<string, never>>;
/** Either a pool or an open transaction: the queue and services accept both. */
export type Queryable = Sql | TransactionSql;

export interface SqlOptions {
	max?: number;
	applicationName?: string;
	/**
	 * The URL is a transaction pooler (Supavisor on port 6543, PgBouncer in transaction mode): no
	 * named prepared statements and no pipelining, which such a pooler cannot carry across the server
	 * connections it switches between.
	 */
	transactionPooler?: boolean;
	/** Named prepared statements; on unless transactionPooler. */
	prepare?: boolean;
}

/** URL parameters meant for other clients (Prisma) that postgres.js would send on as server settings. */
const CLIENT_ONLY_PARAMETERS = ['pgbouncer'];

/** The URL as postgres.js should see it: without `?pgbouncer=true`, which Postgres would reject as an unknown setting. */
export function connectionUrl(url: string): string {
	let parsed: URL;
	try {
		parsed = new URL(url);
	} catch {
		return url; // postgres.js reports what is wrong with it
	}
	if (!CLIENT_ONLY_PARAMETERS.some((name) => parsed.searchParams.has(name))) return url;
	for (const name of CLIENT_ONLY_PARAMETERS) parsed.searchParams.delete(name);
	return parsed.toString();
}

const PATCH_MARK = 'picture: patches/postgres+3.4.9.patch';
let patchChecked = false;

/**
 * True when the installed driver carries our patch. An install with --ignore-scripts skips
 * patch-package: the app then still works, but a database restart under an open transaction can
 * crash the process, so it says so once, loudly.
 */
export function driverPatched(): boolean {
	try {
		const require = createRequire(import.meta.url);
		const entry = require.resolve('postgres');
		const connection = entry.replace(/src[\\/]index\.js$/, 'src/connection.js').replace(/cjs[\\/]src[\\/]index\.js$/, 'cjs/src/connection.js');
		return readFileSync(connection, 'utf8').includes(PATCH_MARK);
	} catch {
		return true; // bundled or unreadable: nothing to say
	}
}

function warnIfUnpatched(): void {
	if (patchChecked) return;
	patchChecked = true;
	if (!driverPatched()) {
		console.warn('[picture] postgres.js is not patched (installed with --ignore-scripts?): run `npx patch-package` so a database restart cannot crash this process');
	}
}

export function createSql(url: string, options: SqlOptions = {}): Sql {
	warnIfUnpatched();
	const transactionPooler = options.transactionPooler ?? false;
	const settings = {
		max: options.max ?? 10,
		idle_timeout: 60,
		connect_timeout: 15,
		// Reconnect quickly after the server comes back (a restart, a failover): 50 ms doubling to 1 s,
		// where postgres.js's default climbs to 20 s and leaves workers and listeners idle that long.
		backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
		prepare: options.prepare ?? !transactionPooler,
		// A transaction pooler gives the server connection back at the first ReadyForQuery and drops
		// the replies to anything pipelined behind it; the client then waits forever
		// (supabase/supavisor#1061, porsager/postgres#970). So: one query at a time per connection.
		// (A postgres.js option its type definitions leave out.)
		max_pipeline: transactionPooler ? 0 : 100,
		onnotice: () => {},
		connection: { application_name: options.applicationName ?? 'picture' }
	};
	const sql = postgres(connectionUrl(url), settings) as unknown as Sql;
	if (!transactionPooler) return sql;
	const pipelined = { ...settings, max_pipeline: 100 };
	return withTransactionsOnTheirOwnConnections(sql, postgres(connectionUrl(url), pipelined) as unknown as Sql);
}

/**
 * postgres.js 3.4.9 reserves a transaction's connection only when it may pipeline on it, so with
 * max_pipeline 0 every sql.begin() fails with UNSAFE_TRANSACTION (porsager/postgres#1210). So the
 * transactions run on connections of their own, where pipelining is safe: only BEGIN starts work on
 * such a connection, and the pooler keeps the server connection until COMMIT.
 */
function withTransactionsOnTheirOwnConnections(sql: Sql, transactions: Sql): Sql {
	const end = sql.end.bind(sql);
	sql.begin = transactions.begin.bind(transactions) as Sql['begin'];
	sql.end = async (options) => {
		await Promise.all([end(options), transactions.end(options)]);
	};
	return sql;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
	try {
		const parsed = new URL(url);
		if (parsed.password) parsed.password = '***';
		return parsed.toString();
	} catch {
		return '(unparseable DATABASE_URL)';
	}
}
