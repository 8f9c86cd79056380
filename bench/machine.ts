// The machine under the numbers: how long a synchronous commit's disk flush takes right now. Every
// synchronously committed transaction (enqueue, claim, completion) waits for at least one of these,
// and on a shared virtual disk it varies by 10x from one minute to the next.
import { cpus } from 'node:os';
import { emit, percentile, probeFsync, QUICK, round, type Measurement } from './support';

export const fsync: Measurement = {
	names: ['machine.fsync.p50_ms'],
	async run(server) {
		const times = probeFsync(server.diskDir, QUICK ? 50 : 200);
		emit({
			name: 'machine.fsync.p50_ms',
			value: round(percentile(times, 50), 3),
			unit: 'ms',
			p99_ms: round(percentile(times, 99), 3),
			samples: times.length,
			what: '8 kB write + fdatasync in the benchmark server folder',
			cpus: cpus().length
		});
	}
};
