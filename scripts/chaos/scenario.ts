// One chaos run: enqueuer processes submit generations while worker processes run them; meanwhile
// workers are SIGKILLed and restarted, and/or the Postgres server is restarted under everyone.
// Ends when every generation has reached a final state (or at the deadline) and checks the result.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSql, type Sql } from '../../src/lib/server/db/client';
import { checkOutcome, type Outcome } from './checks';
import { probeListenAfterRestart, recoveryTimes, type Kill } from './probes';
import { createChaosUser, prepareChaosDatabase } from './cluster';
import { sigkill, startEnqueuer, startWorker, terminate, workerEnv, type Proc } from './processes';

export interface ScenarioOptions {
	databaseUrl: string;
	jobs: number;
	workers: number;
	enqueuers: number;
	concurrency: number;
	leaseSeconds: number;
	msPerImage: number;
	modelId?: string;
	/** SIGKILL a random worker this often (and start a new one at once); 0: no kills. */
	killEveryMs: number;
	/**
	 * SIGSTOP a random worker this often for stallMs (longer than the lease), then SIGCONT: it wakes
	 * to find its jobs reclaimed, its handlers still mid-way. 0: no stalls.
	 */
	stallEveryMs?: number;
	stallMs?: number;
	/** Restart Postgres when this fraction of the generations exist (needs restartPostgres). */
	restartAtFraction?: number[];
	restartPostgres?: (downMs: number) => Promise<unknown>;
	postgresDownMs?: number;
	deadlineMs: number;
	workerExtraEnv?: Record<string, string>;
	/** Every model's max_concurrency (default: workers x concurrency, so the slot limit is exercised). */
	modelConcurrency?: number;
	/** Workers' slow poll (default 1 s); the restart drill sets it long to tell LISTEN wake-ups from polls. */
	pollSeconds?: number;
	log: (message: string) => void;
}

export type { Kill } from './probes';

export interface ScenarioResult {
	outcome: Outcome;
	durationMs: number;
	kills: number;
	stalls: number;
	/** Seconds from each kill to the re-claim of each job the killed worker held. */
	recoverySeconds: number[];
	/** Worker processes that exited without being killed by us (a crash on a lost connection...). */
	unexpectedExits: Array<{ name: string; code: number | null; tail: string[] }>;
	restarts: Array<{ downMs: number; firstCompletionAfterMs: number | null }>;
	timedOut: boolean;
	/**
	 * With the queue idle, Postgres restarted once more, then one generation submitted: how soon a
	 * worker claimed it. Workers poll only every pollSeconds, so a pickup well under that shows
	 * their LISTEN came back by itself.
	 */
	listenProbe: { listenersBackMs: number | null; pickupMs: number | null; pollSeconds: number } | null;
}

async function countState(sql: Sql): Promise<{ total: number; final: number; completedAt: Date | null }> {
	const [row] = await sql<{ total: number; final: number; last: Date | null }[]>`
		select count(*)::int as total,
		       count(*) filter (where status in ('completed', 'failed', 'cancelled'))::int as final,
		       max(completed_at) as last
		from image_generations`;
	return { total: row!.total, final: row!.final, completedAt: row!.last };
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
	const { log } = options;
	const scratch = await mkdtemp(path.join(tmpdir(), 'picture-chaos-files-'));
	const imageDir = path.join(scratch, 'images');
	const sql = createSql(options.databaseUrl, { max: 2 });
	const workers: Proc[] = [];
	const expectedExit = new WeakSet<Proc>();
	const unexpectedExits: ScenarioResult['unexpectedExits'] = [];
	const kills: Kill[] = [];
	const stalled = new Set<Proc>();
	let stalls = 0;
	const restarts: ScenarioResult['restarts'] = [];
	let running = true;
	const env = workerEnv({
		databaseUrl: options.databaseUrl,
		imageDir,
		dataDir: scratch,
		leaseSeconds: options.leaseSeconds,
		concurrency: options.concurrency,
		msPerImage: options.msPerImage,
		pollSeconds: options.pollSeconds,
		extra: options.workerExtraEnv
	});
	let serial = 0;
	const spawnWorker = () => {
		const proc = startWorker(`worker-${++serial}`, env, log);
		workers.push(proc);
		void proc.exited.then((code) => {
			if (expectedExit.has(proc) || !running) return;
			unexpectedExits.push({ name: proc.name, code, tail: proc.tail.slice(-10) });
			log(`${proc.name} exited by itself (code ${code}); starting another`);
			if (running) spawnWorker();
		});
		return proc;
	};
	const live = () => workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);

	const started = Date.now();
	let timedOut = false;
	let listenProbe: ScenarioResult['listenProbe'] = null;
	try {
		await prepareChaosDatabase(sql, {
			modelConcurrency: options.modelConcurrency ?? Math.max(8, options.workers * options.concurrency),
			maxAttempts: options.killEveryMs > 0 || options.stallEveryMs ? 10 : undefined
		});
		for (let i = 0; i < options.workers; i++) spawnWorker();
		const perEnqueuer = Math.ceil(options.jobs / options.enqueuers);
		const enqueuers: Proc[] = [];
		for (let i = 0; i < options.enqueuers; i++) {
			const count = Math.min(perEnqueuer, options.jobs - i * perEnqueuer);
			const userId = await createChaosUser(sql, `e${i}`);
			enqueuers.push(
				startEnqueuer(`enqueuer-${i}`, {
					databaseUrl: options.databaseUrl,
					userId,
					count,
					parallel: 4,
					modelId: options.modelId ?? 'local/preview',
					label: `e${i}`
				}, log)
			);
		}
		const restartAt = [...(options.restartAtFraction ?? [])];
		let nextKill = Date.now() + options.killEveryMs;
		let nextStall = Date.now() + (options.stallEveryMs ?? 0);
		let lastReport = 0;
		for (;;) {
			if (Date.now() - started > options.deadlineMs) {
				timedOut = true;
				log('deadline reached');
				break;
			}
			let state: Awaited<ReturnType<typeof countState>> | null = null;
			try {
				state = await countState(sql);
			} catch {
				// The server is restarting: look again shortly.
			}
			const enqueuersDone = enqueuers.every((e) => e.child.exitCode !== null);
			if (state && enqueuersDone && state.total >= options.jobs && state.final === state.total) break;
			// Only once workers are up and completing: this drill is about running processes reconnecting.
			if (state && restartAt.length > 0 && state.final >= Math.max(1, restartAt[0]! * options.jobs) && options.restartPostgres) {
				restartAt.shift();
				const before = state.completedAt?.getTime() ?? 0;
				log(`restarting postgres (${state.final}/${state.total} done)`);
				const { downMs } = (await options.restartPostgres(options.postgresDownMs ?? 2000)) as { downMs: number };
				const upAt = Date.now();
				// The first completion after the server came back, found by polling with a deadline.
				let firstCompletionAfterMs: number | null = null;
				while (Date.now() - upAt < 60_000) {
					const after = await countState(sql).catch(() => null);
					if (after?.completedAt && after.completedAt.getTime() > Math.max(before, upAt)) {
						firstCompletionAfterMs = after.completedAt.getTime() - upAt;
						break;
					}
					if (after && after.final === after.total && enqueuersDone) break;
					await new Promise((resolve) => setTimeout(resolve, 100));
				}
				restarts.push({ downMs, firstCompletionAfterMs });
				log(`postgres back after ${downMs} ms; first completion ${firstCompletionAfterMs} ms later`);
			}
			if (options.killEveryMs > 0 && Date.now() >= nextKill) {
				nextKill = Date.now() + options.killEveryMs;
				const candidates = live();
				const victim = candidates[Math.floor(Math.random() * candidates.length)];
				if (victim) {
					stalled.delete(victim);
					expectedExit.add(victim);
					kills.push({ pid: victim.child.pid!, at: Date.now() });
					await sigkill(victim);
					spawnWorker();
				}
			}
			if (options.stallEveryMs && Date.now() >= nextStall) {
				nextStall = Date.now() + options.stallEveryMs;
				const candidates = live().filter((w) => !stalled.has(w));
				const victim = candidates[Math.floor(Math.random() * candidates.length)];
				if (victim) {
					stalled.add(victim);
					stalls++;
					victim.child.kill('SIGSTOP');
					setTimeout(() => {
						victim.child.kill('SIGCONT');
						stalled.delete(victim);
					}, options.stallMs ?? options.leaseSeconds * 2000);
				}
			}
			if (state && Date.now() - lastReport > 5000) {
				lastReport = Date.now();
				log(`${state.final}/${state.total} final, ${kills.length} kill(s), ${live().length} worker(s)`);
			}
			await new Promise((resolve) => setTimeout(resolve, 200));
		}
		for (const e of enqueuers) if (e.child.exitCode !== 0) log(`${e.name}: ${e.tail.slice(-5).join(' | ')}`);
		if (options.restartPostgres && !timedOut) listenProbe = await probeListenAfterRestart(sql, options, live().length, log);
		running = false;
		for (const w of stalled) w.child.kill('SIGCONT');
		await Promise.all(
			live().map((w) => {
				expectedExit.add(w);
				return terminate(w);
			})
		);
		await Promise.all(enqueuers.map((e) => terminate(e, 1000)));
		const outcome = await checkOutcome(sql, imageDir);
		const recoverySeconds = await recoveryTimes(sql, kills);
		return { outcome, durationMs: Date.now() - started, kills: kills.length, stalls, recoverySeconds, unexpectedExits, restarts, timedOut, listenProbe };
	} finally {
		running = false;
		for (const w of workers) await sigkill(w);
		await sql.end({ timeout: 5 });
		await rm(scratch, { recursive: true, force: true });
	}
}
