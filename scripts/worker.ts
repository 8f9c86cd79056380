// npm run worker: a continuous worker process. Wakes on new jobs within milliseconds, polls slowly
// for scheduled and retried ones (only polls behind a transaction pooler, where LISTEN cannot work),
// and on SIGTERM/SIGINT stops claiming, lets running jobs finish (up to WORKER_SHUTDOWN_SECONDS)
// and hands the rest back to the queue.
import { loadConfig } from '../src/lib/server/config';
import { startServices } from '../src/lib/server/runtime';
import { loadDotEnv, log } from './cli-env';

loadDotEnv();
const config = loadConfig(process.env);
const services = await startServices(config, { worker: true, log });
// Waits out a database that is not up yet; gives up only on a migration history that disagrees.
const worker = (await services.whenReady()) ? services.worker.inProcess : null;
if (!worker) {
	log(`the worker did not start: ${services.storageError ?? 'the database migrations are not current'}`);
	await services.close();
	process.exit(1);
}
const graceMs = config.worker.shutdownSeconds * 1000;

let stopping = false;
async function shutdown(signal: string) {
	if (stopping) return;
	stopping = true;
	log(`${signal}: finishing running jobs (up to ${graceMs / 1000} s)`);
	const counts = worker!.pool.counts;
	await worker!.stop(graceMs);
	await services.close();
	log(`stopped after ${counts.processed} job(s), ${counts.errors} error(s)`);
	process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
const wakeUp = config.databaseNotifications ? 'wakes on new jobs' : `polls every ${config.worker.pollSeconds} s`;
log(`worker ${worker.workerId} running ${config.worker.concurrency} job(s) at a time, ${wakeUp}; Ctrl-C to stop`);
