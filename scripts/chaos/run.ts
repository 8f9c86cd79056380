// npm run test:chaos [-- scenario...]: the fault drills against real processes and a real Postgres
// server of their own, one JSON summary per scenario on stdout (progress on stderr); exit 1 if any
// check fails.
//   kill      2,000 generations; a worker SIGKILLed (and restarted) every 3 s
//   restart   Postgres stopped and started twice under running workers and enqueuers
//   faults    the Replicate provider against a fake failing 30% of API calls (5xx and 429)
//   webhooks  a prediction's webhook delivered three times, out of order
//   recovery  100 jobs' kill-to-reclaim time with production lease and reaper settings
// CHAOS_QUICK=1 makes each scenario small (a smoke run); CHAOS_VERBOSE=1 echoes process output.
import { createChaosDatabase, startChaosCluster, type ChaosCluster } from './cluster';
import { runFaultScenario } from './faults';
import { runRecoveryScenario } from './recovery';
import { runScenario, type ScenarioResult } from './scenario';
import { runWebhookScenario } from './webhooks';

const QUICK = /^(1|true|yes)$/i.test(process.env.CHAOS_QUICK ?? '');
const log = (message: string) => process.stderr.write(`[chaos] ${message}\n`);

export function percentile(sorted: number[], p: number): number | null {
	if (sorted.length === 0) return null;
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const r2 = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);

export function summarise(name: string, result: ScenarioResult): { summary: Record<string, unknown>; ok: boolean } {
	const o = result.outcome;
	const rec = result.recoverySeconds;
	const summary = {
		scenario: name,
		jobs_run: o.generations,
		completed: o.completed,
		lost: o.lost,
		duplicated: { jobs_completed_twice: o.jobsCompletedTwice, generations_completed_twice: o.generationsCompletedTwice },
		status: o.status,
		image_files: o.images.files,
		image_files_expected: o.images.expected,
		image_files_missing: o.images.missing,
		image_orphans: o.images.orphans,
		image_temp_files_left: o.images.tempFiles,
		image_orphan_samples: o.images.orphanSamples,
		kills: result.kills,
		stalls: result.stalls,
		claims: o.claims,
		rerun_jobs: o.rerunJobs,
		reaped: o.reaped,
		failed_attempts: o.failedAttempts,
		snoozes: o.snoozes,
		max_attempts_used: o.maxAttemptsUsed,
		jobs_by_attempts_used: o.attemptsUsed,
		backoff_violations: o.backoff.violations,
		backoff_violation_samples: o.backoff.samples,
		recovery_seconds: { n: rec.length, p50: r2(percentile(rec, 50)), p99: r2(percentile(rec, 99)), max: r2(rec.at(-1) ?? null) },
		postgres_restarts: result.restarts,
		listen_probe_after_restart: result.listenProbe,
		unexpected_worker_exits: result.unexpectedExits.length,
		unexpected_exit_samples: result.unexpectedExits.slice(0, 3),
		timed_out: result.timedOut,
		duration_s: r2(result.durationMs / 1000)
	};
	const ok =
		!result.timedOut &&
		o.lost === 0 &&
		o.jobsCompletedTwice === 0 &&
		o.generationsCompletedTwice === 0 &&
		o.images.missing === 0 &&
		o.images.orphans === 0 &&
		o.images.files === o.completed * 2 &&
		o.backoff.violations === 0;
	return { summary, ok };
}

async function main(): Promise<number> {
	const wanted = process.argv.slice(2).filter((a) => a !== '--');
	const all = ['kill', 'restart', 'faults', 'webhooks', 'recovery'];
	const selected = wanted.length ? wanted : all;
	const unknown = selected.filter((s) => !all.includes(s));
	if (unknown.length) {
		log(`unknown scenario(s) ${unknown.join(', ')}; known: ${all.join(', ')}`);
		return 2;
	}
	let cluster: ChaosCluster | null = null;
	const stop = async () => {
		await cluster?.stop();
	};
	for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop().finally(() => process.exit(130)));
	let failures = 0;
	try {
		cluster = await startChaosCluster(log);
		const c = cluster;
		log(`postgres in ${c.dir}`);
		for (const name of selected) {
			const databaseUrl = await createChaosDatabase(c.adminUrl, `chaos_${name}`);
			log(`scenario ${name}`);
			let summary: Record<string, unknown>;
			let ok: boolean;
			if (name === 'kill') {
				({ summary, ok } = summarise(
					name,
					await runScenario({
						databaseUrl,
						jobs: QUICK ? 300 : 2000,
						workers: 3,
						enqueuers: 2,
						concurrency: 4,
						leaseSeconds: 5,
						msPerImage: 100,
						killEveryMs: 3000,
						stallEveryMs: 10_000,
						stallMs: 8000,
						deadlineMs: QUICK ? 180_000 : 900_000,
						log
					})
				));
			} else if (name === 'restart') {
				const result = await runScenario({
					databaseUrl,
					jobs: QUICK ? 200 : 600,
					workers: 2,
					enqueuers: 2,
					concurrency: 4,
					leaseSeconds: 5,
					msPerImage: 100,
					killEveryMs: 0,
					restartAtFraction: [0.3, 0.7],
					restartPostgres: (downMs) => c.restart(downMs),
					postgresDownMs: 3000,
					pollSeconds: 30,
					modelConcurrency: 1000,
					deadlineMs: 600_000,
					log
				});
				({ summary, ok } = summarise(name, result));
				// Reconnecting by themselves: no worker process may have died on the lost connection.
				ok =
					ok &&
					result.unexpectedExits.length === 0 &&
					result.restarts.every((r) => r.firstCompletionAfterMs !== null) &&
					result.listenProbe !== null &&
					result.listenProbe.pickupMs !== null &&
					result.listenProbe.pickupMs < 5000;
			} else if (name === 'faults') {
				({ summary, ok } = await runFaultScenario({ databaseUrl, jobs: QUICK ? 60 : 200, log }));
			} else if (name === 'webhooks') {
				({ summary, ok } = await runWebhookScenario({ databaseUrl, log }));
			} else {
				({ summary, ok } = await runRecoveryScenario({ databaseUrl, jobs: QUICK ? 20 : 100, log }));
			}
			summary.ok = ok;
			process.stdout.write(`${JSON.stringify(summary)}\n`);
			if (!ok) failures++;
		}
	} finally {
		await stop();
	}
	return failures > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
	main().then(
		(code) => process.exit(code),
		(error: unknown) => {
			log(`fatal: ${(error as Error).stack ?? String(error)}`);
			process.exit(1);
		}
	);
}
