// A fresh database per test file, cloned from the migrated template: real Postgres, no shared state.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { inject } from 'vitest';
import { createSql, type Sql } from '../../src/lib/server/db/client';
import { readMigrations } from '../../src/lib/server/db/migrate';
import type { JwtClaims } from '../../src/lib/server/db/with-user';
import { withDatabase } from './global-setup';

export interface TestDatabase {
	sql: Sql;
	url: string;
	name: string;
	/** Closes every connection and drops the database. */
	drop(): Promise<void>;
}

export async function createTestDatabase(options: { max?: number } = {}): Promise<TestDatabase> {
	const adminUrl = inject('pgAdminUrl');
	const name = `t_${randomBytes(6).toString('hex')}`;
	const admin = createSql(adminUrl, { max: 1 });
	try {
		await admin.unsafe(`create database ${name} template ${inject('pgTemplate')}`);
	} finally {
		await admin.end();
	}
	const url = withDatabase(adminUrl, name);
	const sql = createSql(url, { max: options.max ?? 10 });
	return {
		sql,
		url,
		name,
		async drop() {
			await sql.end({ timeout: 5 });
			const dropper = createSql(adminUrl, { max: 1 });
			await dropper.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
			await dropper.end();
		}
	};
}

export const migrationsDir = path.resolve('supabase/migrations');
export const loadMigrations = () => readMigrations(migrationsDir);

/** Inserts a row into auth.users and returns its id and the claims a signed-in session would carry. */
export async function createUser(sql: Sql, email = `user-${randomBytes(4).toString('hex')}@example.test`, roles: string[] = []) {
	const [row] = await sql<{ id: string }[]>`
		insert into auth.users (email, raw_app_meta_data) values (${email}, ${sql.json({ provider: 'email', roles })}) returning id`;
	const claims: JwtClaims = { sub: row!.id, role: 'authenticated', email };
	return { id: row!.id, email, claims };
}
