import { migrationStatus, type MigrationStatus } from '../db/migrate';
import type { Services } from '../runtime';

export interface HealthReport {
	status: 'ok' | 'unavailable';
	database: { ok: boolean; error?: string };
	migrations: (MigrationStatus & { error?: string }) | null;
}

/** Ready when the database answers and every migration the code knows is applied, unchanged. */
export async function checkHealth(services: Pick<Services, 'sql' | 'migrations' | 'migrationError'>): Promise<HealthReport> {
	try {
		await services.sql`select 1`;
	} catch (error) {
		return { status: 'unavailable', database: { ok: false, error: (error as Error).message }, migrations: null };
	}
	const migrations = await migrationStatus(services.sql, services.migrations);
	const ok = migrations.current && !services.migrationError;
	return {
		status: ok ? 'ok' : 'unavailable',
		database: { ok: true },
		migrations: services.migrationError ? { ...migrations, error: services.migrationError } : migrations
	};
}
