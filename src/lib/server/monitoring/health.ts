import { migrationStatus, type MigrationStatus } from '../db/migrate';
import type { Services } from '../runtime';

export interface HealthReport {
	status: 'ok' | 'unavailable';
	database: { ok: boolean; error?: string };
	migrations: (MigrationStatus & { error?: string }) | null;
	/** Whether images can be stored, as checked at start (a broken store fails every job). */
	storage: { ok: boolean; error?: string };
}

/** Ready when the database answers, every migration the code knows is applied unchanged, and images can be stored. */
export async function checkHealth(
	services: Pick<Services, 'sql' | 'migrations' | 'migrationError' | 'storageError'>
): Promise<HealthReport> {
	const storage = services.storageError ? { ok: false, error: services.storageError } : { ok: true };
	try {
		await services.sql`select 1`;
	} catch (error) {
		return { status: 'unavailable', database: { ok: false, error: (error as Error).message }, migrations: null, storage };
	}
	const migrations = await migrationStatus(services.sql, services.migrations);
	const ok = migrations.current && !services.migrationError && storage.ok;
	return {
		status: ok ? 'ok' : 'unavailable',
		database: { ok: true },
		migrations: services.migrationError ? { ...migrations, error: services.migrationError } : migrations,
		storage
	};
}
