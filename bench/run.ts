// npm run bench [-- filter...]: queue benchmarks, one JSON object per line on stdout (`npm run -s`
// keeps npm's own banner off stdout; progress goes to stderr).
//   BENCH_DATABASE_URL  use that server (a fresh database is created and dropped on it)
//   BENCH_QUICK=1       small workloads, for a smoke run
//   BENCH_PG_SETTINGS   extra settings for the embedded server, e.g. "synchronous_commit=off"
// A filter selects the measurements whose result names contain it, e.g. `queue.pickup`; `compare`
// runs the comparisons with graphile-worker 0.17.3 (installed into bench/anchors/ on first use), the
// queue's DB-only ceiling and a bare SvelteKit app; `scale-out` (1, 2, 4 app and worker processes,
// docs/scaling.md) runs only when named.
import { churnBench } from './churn';
import { compareRequest } from './compare-request';
import { compareBatched, compareEnqueue, comparePickup, compareSingle, compareSummary } from './compare-queue';
import { compareFloor } from './compare-queue-floor';
import { consoleSearch } from './console-search';
import { load } from './load';
import { fsync } from './machine';
import { eventDelay, postGenerations } from './generations';
import { fair } from './fair';
import { gate } from './queue-gate';
import { claim } from './scale';
import { pickup } from './pickup-latency';
import { pickupStart } from './pickup-start';
import { batched, enqueue, single } from './queue-throughput';
import { recovery } from './recovery';
import { scaleOut } from './scale-out';
import { sseFanout } from './sse-fanout';
import { sseQueued } from './sse-queued';
import { userQueries } from './user-queries';
import { views } from './views';
import { log, QUICK, startBenchServer, type BenchServer, type Measurement } from './support';

const MEASUREMENTS: Measurement[] = [
	fsync,
	single,
	batched,
	enqueue,
	pickup,
	pickupStart,
	claim,
	fair,
	gate,
	postGenerations,
	eventDelay,
	sseFanout,
	sseQueued,
	churnBench,
	recovery,
	userQueries,
	views,
	consoleSearch,
	load,
	// Not in the default set (3.5-4 minutes): `npm run bench -- scale-out`.
	scaleOut,
	// The comparisons with reference implementations (`npm run bench -- compare` runs only these);
	// the summary stays last.
	compareSingle,
	compareBatched,
	// What the two throughput goals can reach at most: job_queue's row updates alone.
	compareFloor,
	compareEnqueue,
	comparePickup,
	compareRequest,
	compareSummary
];
/** The whole run is killed after this long, so it never hangs a CI job. */
const WATCHDOG_MS = 30 * 60_000;
/** The comparisons' interleaved rounds add about ten minutes (more on a busy machine). */
const COMPARE_WATCHDOG_MS = 20 * 60_000;

async function main(): Promise<number> {
	const filters = process.argv.slice(2).filter((arg) => arg !== '--');
	// A long measurement runs only when a filter names its family (`scale-out`, `scale-out.workers`),
	// not when a filter like `sse` or `pickup` happens to match one of its result names.
	const family = (m: Measurement) => m.names[0]!.split('.')[0]!;
	const selected = MEASUREMENTS.filter((m) =>
		filters.length === 0
			? !m.explicitOnly
			: filters.some((f) => m.names.some((name) => name.includes(f)) && (!m.explicitOnly || f.includes(family(m))))
	);
	if (selected.length === 0) {
		log(`no measurement matches ${filters.join(' ')}; known: ${MEASUREMENTS.flatMap((m) => m.names).join(', ')}`);
		return 2;
	}

	const started = Date.now();
	let serverReady: Promise<BenchServer> | null = null;
	let interrupted = false;
	// One shutdown, however many callers ask for it (the run's end, a signal, the watchdog); a server
	// still starting is stopped once it is up.
	let stopping: Promise<void> | null = null;
	const stop = () =>
		(stopping ??= (async () => {
			const server = await serverReady?.catch(() => null);
			await server?.stop();
		})().catch((e: unknown) => log(`cleanup: ${String(e)}`)));
	for (const signal of ['SIGINT', 'SIGTERM'] as const) {
		process.once(signal, () => {
			log(`${signal}: stopping`);
			interrupted = true;
			void stop().finally(() => process.exit(130));
		});
	}
	const watchdogMs = WATCHDOG_MS + (selected.some((m) => m.names[0]!.startsWith('compare.')) ? COMPARE_WATCHDOG_MS : 0);
	const watchdog = setTimeout(() => {
		log(`still running after ${watchdogMs / 1000} s: giving up`);
		interrupted = true;
		void stop().finally(() => process.exit(3));
	}, watchdogMs);
	watchdog.unref();

	let failures = 0;
	try {
		serverReady = startBenchServer();
		const server = await serverReady;
		log(`running ${selected.map((m) => m.names[0]).join(', ')}${QUICK ? ' (quick mode)' : ''}`);
		for (const measurement of selected) {
			if (interrupted) break;
			const measurementStarted = Date.now();
			try {
				await measurement.run(server);
				log(`${measurement.names[0]}: took ${((Date.now() - measurementStarted) / 1000).toFixed(1)} s`);
			} catch (error) {
				if (interrupted) break;
				failures++;
				log(`${measurement.names[0]} failed: ${(error as Error).stack ?? String(error)}`);
			}
		}
	} finally {
		await stop();
		clearTimeout(watchdog);
	}
	if (interrupted) return new Promise<number>(() => {}); // the signal handler exits
	log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s${failures ? `, ${failures} failed` : ''}`);
	return failures > 0 ? 1 : 0;
}

main().then(
	(code) => process.exit(code),
	(error: unknown) => {
		log(`fatal: ${(error as Error).stack ?? String(error)}`);
		process.exit(1);
	}
);
