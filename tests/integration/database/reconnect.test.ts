// The connection under an open transaction dies (a restart, a failover, an admin's
// pg_terminate_backend): the transaction fails, the process lives on, and the pool reconnects by
// itself. Unpatched postgres.js 3.4.9 throws from its ROLLBACK write outside any promise here and
// kills the process (patches/postgres+3.4.9.patch, applied by patch-package at install).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createSql, driverPatched, type Sql } from '$lib/server/db/client';
import { createTestDatabase, type TestDatabase } from '../../support/db';

let db: TestDatabase;
let sql: Sql;
const uncaught: unknown[] = [];
const record = (error: unknown) => uncaught.push(error);

beforeAll(async () => {
	db = await createTestDatabase();
	sql = createSql(db.url, { max: 1 });
	process.on('uncaughtException', record);
});
afterAll(async () => {
	process.off('uncaughtException', record);
	await sql.end({ timeout: 5 });
	await db.drop();
});

test('a transaction whose connection is terminated fails cleanly, and the next query reconnects', async () => {
	const outcome = await sql
		.begin(async (tx) => {
			const [me] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
			await db.sql`select pg_terminate_backend(${me!.pid})`;
			await tx`select 1`;
		})
		.then(
			() => 'committed',
			(error: Error) => error.message
		);
	expect(outcome).not.toBe('committed');
	// Give the driver's error path a turn of the event loop to throw, as it did unpatched.
	await new Promise((resolve) => setImmediate(resolve));
	// A query already queued on the dying connection fails with CONNECTION_CLOSED (a caller retries
	// such an error); the one after it runs on the reconnected connection.
	const next = () => sql<{ ok: number }[]>`select 1 as ok`;
	const [row] = await next().catch((error: { code?: string }) => {
		expect(error.code).toBe('CONNECTION_CLOSED');
		return next();
	});
	expect(row!.ok).toBe(1);
	expect(uncaught).toEqual([]);
});

test('the installed driver carries the patch (patch-package ran at install)', () => {
	expect(driverPatched()).toBe(true);
});
