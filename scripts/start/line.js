// The one line `npm start` ends with, in place of adapter-node's "Listening on http://0.0.0.0:3000"
// (an address no browser opens): where to click, where the data lives, and who runs the jobs.
import path from 'node:path';

/** @typedef {Pick<import('../../src/lib/server/runtime').Services, 'config' | 'worker' | 'storageError'>} StartedServices */

/**
 * @param {StartedServices} services
 * @param {Record<string, string | undefined>} env
 */
export function describeWorker(services, env) {
	const { config } = services;
	if (services.worker.inProcess) return 'worker inside the app';
	if (services.storageError) return 'worker: off, images cannot be stored (see above)';
	// Waiting for a database that is not up yet, or stopped by a migration history that disagrees.
	if (config.worker.inProcess) return 'worker: not running, the database is not ready (see above and /api/health)';
	if ((env.IN_PROCESS_WORKER ?? '').trim().toLowerCase() === 'off') {
		return 'worker: off (IN_PROCESS_WORKER=off): run `npm run worker`, or have cron call POST /api/worker';
	}
	return 'worker: off in the app because CRON_SECRET is set (cron calls POST /api/worker; IN_PROCESS_WORKER=on runs one here too)';
}

/**
 * Where the data is: the embedded database's folder, or the database named by DATABASE_URL (no password).
 * @param {StartedServices['config']} config
 */
export function describeData(config) {
	if (!config.databaseUrl) return `data in ${path.resolve(config.dataDir)}`;
	let database = 'the database in DATABASE_URL';
	try {
		const url = new URL(config.databaseUrl);
		database = `${url.host}${url.pathname}`;
	} catch {
		// loadConfig has checked its scheme; anything stranger is just named by its variable
	}
	const images = config.storage.supabaseUrl && config.storage.serviceRoleKey ? 'Supabase Storage' : path.resolve(config.storage.dir);
	return `database ${database}, images in ${images}`;
}

/**
 * @param {{ origin: string, services: StartedServices, env?: Record<string, string | undefined> }} options
 */
export function startLine({ origin, services, env = process.env }) {
	return `Picture is running at ${origin} · ${describeData(services.config)} · ${describeWorker(services, env)}`;
}
