// How many rows of a table a connection's statements have read so far, however the planner read
// them: a sequential scan's tuples plus every index entry. Differences between two calls count the
// reads of what ran in between, on a reserved connection.
import type { Sql } from '../../src/lib/server/db/client';

export async function tableRowsRead(conn: Sql, table: string): Promise<number> {
	await conn`select pg_stat_force_next_flush()`;
	const [row] = await conn<{ n: string }[]>`
		select ((select coalesce(seq_tup_read, 0) from pg_stat_user_tables where relname = ${table})
		      + (select coalesce(sum(idx_tup_read), 0) from pg_stat_user_indexes where relname = ${table}))::text as n`;
	return Number(row!.n);
}
