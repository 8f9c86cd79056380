import postgres from 'postgres';

export type Sql = postgres.Sql<Record<string, never>>;
export type TransactionSql = postgres.TransactionSql<Record<string, never>>;
/** Either a pool or an open transaction: the queue and services accept both. */
export type Queryable = Sql | TransactionSql;

export interface SqlOptions {
	max?: number;
	applicationName?: string;
}

export function createSql(url: string, options: SqlOptions = {}): Sql {
	return postgres(url, {
		max: options.max ?? 10,
		idle_timeout: 60,
		connect_timeout: 15,
		onnotice: () => {},
		connection: { application_name: options.applicationName ?? 'picture' }
	}) as unknown as Sql;
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
