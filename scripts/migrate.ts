// npm run db:migrate [-- --status]
// Applies supabase/migrations to DATABASE_URL (or the embedded database in DATA_DIR) without
// starting the app. --status only reports. Exits 1 when the history disagrees with the code.
import path from 'node:path';
import { loadConfig } from '../src/lib/server/config';
import { createSql, redactUrl } from '../src/lib/server/db/client';
import { migrate, migrationStatus, readMigrations } from '../src/lib/server/db/migrate';
import { describeTransactionPooling, openDatabase } from '../src/lib/server/runtime';
import { loadDotEnv, log } from './cli-env';

loadDotEnv();
const statusOnly = process.argv.includes('--status');
const config = loadConfig(process.env);
const { url, embedded } = await openDatabase(config, log);
const transactionPooler = config.databasePoolMode === 'transaction';
const sql = createSql(url, { max: 2, transactionPooler });
let exitCode = 0;
try {
	log(`database: ${redactUrl(url)}${embedded ? ' (embedded)' : ''}`);
	if (transactionPooler) log(describeTransactionPooling(config));
	const migrations = await readMigrations(path.resolve('supabase/migrations'));
	if (!statusOnly) {
		const applied = await migrate(sql, migrations, { log });
		log(applied.length ? `applied ${applied.length} migration(s)` : 'nothing to apply');
	}
	const status = await migrationStatus(sql, migrations);
	log(`${status.applied} of ${status.expected} applied${status.pending.length ? `; pending: ${status.pending.join(', ')}` : ''}`);
	for (const problem of status.problems) log(`PROBLEM: ${problem}`);
	if (!status.current) exitCode = 1;
} catch (error) {
	console.error(`[picture] ${(error as Error).message}`);
	exitCode = 1;
} finally {
	await sql.end({ timeout: 5 });
	await embedded?.stop();
}
process.exit(exitCode);
