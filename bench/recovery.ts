// Recovery time after a worker crash, with production lease and reaper settings: worker processes
// hold jobs (a slow local model keeps them running), are SIGKILLed at random moments, a fresh worker
// starts, and each job's kill-to-reclaim time is read from the database (scripts/chaos/recovery.ts).
// The design's target is 45 s (lease + one reaper tick).
import { measureRecovery } from '../scripts/chaos/recovery';
import { emit, log, percentile, QUICK, round, type Measurement } from './support';

const JOBS = QUICK ? 20 : 100;

export const recovery: Measurement = {
	names: ['worker.recovery.p50_s', 'worker.recovery.p99_s', 'worker.recovery.max_s'],
	async run(server) {
		const db = await server.freshDatabase('worker.recovery', { max: 4 });
		try {
			const result = await measureRecovery({ databaseUrl: db.url, jobs: JOBS, holders: QUICK ? 2 : 4, log });
			const sorted = result.seconds;
			if (result.notReclaimed > 0) log(`worker.recovery: ${result.notReclaimed} job(s) were not claimed again within 120 s`);
			const common = {
				jobs_killed: result.jobs,
				measured: sorted.length,
				not_reclaimed: result.notReclaimed,
				lease_seconds: 30,
				target_s: 45,
				settings: server.settings
			};
			emit({ name: 'worker.recovery.p50_s', value: round(percentile(sorted, 50)), unit: 's', ...common });
			emit({ name: 'worker.recovery.p99_s', value: round(percentile(sorted, 99)), unit: 's', ...common });
			emit({ name: 'worker.recovery.max_s', value: round(sorted.at(-1) ?? Number.NaN), unit: 's', ...common });
		} finally {
			await db.drop();
		}
	}
};
