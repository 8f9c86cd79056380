// What the scale-out bench watches while a phase runs: the CPU each process used (from /proc, so
// only for a server on this machine), the connections each process holds, and what the active
// backends wait on, sampled from pg_stat_activity.
import { readdirSync, readFileSync } from 'node:fs';
import type { Sql } from '../src/lib/server/db/client';
import { round, sleep } from './support';

/** USER_HZ on Linux is 100: /proc counts CPU time in ticks of 10 ms. */
const TICK_MS = 10;

function statFields(pid: number): string[] | null {
	try {
		// The command name (field 2) may hold spaces; everything after its closing parenthesis is numbers.
		const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
		return text.slice(text.lastIndexOf(') ') + 2).split(' ');
	} catch {
		return null;
	}
}

/** CPU (user + system, ms) a process has used; with children, also its reaped children's. NaN when gone. */
export function processCpuMs(pid: number, withReapedChildren = false): number {
	const f = statFields(pid);
	if (!f) return NaN;
	// After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	const own = Number(f[11]) + Number(f[12]);
	return (own + (withReapedChildren ? Number(f[13]) + Number(f[14]) : 0)) * TICK_MS;
}

function parentOf(pid: number): number | null {
	const f = statFields(pid);
	return f ? Number(f[1]) : null;
}

/**
 * The whole Postgres server's CPU: the postmaster with the children it has reaped (backends that
 * ended) plus every live child (backends, WAL writer, checkpointer, autovacuum).
 */
export function postgresCpuMs(postmaster: number | null): number {
	if (postmaster === null) return NaN;
	let total = processCpuMs(postmaster, true);
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		const pid = Number(entry);
		if (parentOf(pid) === postmaster) total += processCpuMs(pid) || 0;
	}
	return total;
}

/** The postmaster's pid: the parent of our own backend, when the server runs on this machine. */
export async function findPostmaster(sql: Sql): Promise<number | null> {
	const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
	const parent = parentOf(row!.pid);
	return parent && parent > 1 ? parent : null;
}

/** Busy and total CPU time of the whole machine (all cores), for the share other work took. */
export function machineCpuMs(): { busy: number; total: number } {
	try {
		const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
		const ticks = line.trim().split(/\s+/).slice(1).map(Number);
		const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle + iowait
		const total = ticks.reduce((a, b) => a + b, 0);
		return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
	} catch {
		return { busy: NaN, total: NaN };
	}
}

export interface ActivitySummary {
	samples: number;
	/** Connections per application_name: the most seen at once, and the mean. */
	connections: Record<string, { max: number; mean: number }>;
	/** All client connections to the database at once, at most. */
	connections_max: number;
	/** Share of active-backend samples in each wait event ('CPU' when waiting on none). */
	wait_events_pct: Record<string, number>;
	/** Active client backends per sample, on average. */
	active_mean: number;
}

/**
 * Samples pg_stat_activity for one database every intervalMs until stop() is called, on a
 * connection of its own (named picture-bench-probe, so it can leave itself out).
 */
export function sampleActivity(sql: Sql, database: string, intervalMs = 100) {
	const perApp = new Map<string, { max: number; sum: number }>();
	const waits = new Map<string, number>();
	let samples = 0;
	let activeTotal = 0;
	let connectionsMax = 0;
	let running = true;
	const loop = (async () => {
		while (running) {
			const rows = await sql<{ app: string; connections: number; active: number; waits: string[] | null }[]>`
				select coalesce(nullif(application_name, ''), '(none)') as app, count(*)::int as connections,
				       count(*) filter (where state = 'active')::int as active,
				       array_agg(coalesce(wait_event_type || ':' || wait_event, 'CPU')) filter (where state = 'active') as waits
				from pg_stat_activity
				where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()
				group by 1`;
			samples++;
			let all = 0;
			const seen = new Set<string>();
			for (const row of rows) {
				all += row.connections;
				seen.add(row.app);
				const entry = perApp.get(row.app) ?? { max: 0, sum: 0 };
				entry.max = Math.max(entry.max, row.connections);
				entry.sum += row.connections;
				perApp.set(row.app, entry);
				activeTotal += row.active;
				for (const wait of row.waits ?? []) waits.set(wait, (waits.get(wait) ?? 0) + 1);
			}
			connectionsMax = Math.max(connectionsMax, all);
			await sleep(intervalMs);
		}
	})();
	return {
		async stop(): Promise<ActivitySummary> {
			running = false;
			await loop;
			const waitSamples = [...waits.values()].reduce((a, b) => a + b, 0);
			const byShare = [...waits.entries()].sort((a, b) => b[1] - a[1]);
			return {
				samples,
				connections: Object.fromEntries(
					[...perApp.entries()].sort().map(([app, e]) => [app, { max: e.max, mean: round(e.sum / Math.max(1, samples), 1) }])
				),
				connections_max: connectionsMax,
				wait_events_pct: Object.fromEntries(byShare.map(([event, n]) => [event, round((n * 100) / Math.max(1, waitSamples), 1)])),
				active_mean: round(activeTotal / Math.max(1, samples), 2)
			};
		}
	};
}

/** CPU used between start() and stop() by each watched process, Postgres, the bench and the machine. */
export function cpuMeter(processes: Record<string, number[]>, postmaster: number | null) {
	const read = () => ({
		processes: Object.fromEntries(Object.entries(processes).map(([group, pids]) => [group, pids.reduce((s, pid) => s + (processCpuMs(pid) || 0), 0)])),
		postgres: postgresCpuMs(postmaster),
		bench: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
		machine: machineCpuMs(),
		at: performance.now()
	});
	const before = read();
	return {
		/** Cores used on average (1.0 = one core busy the whole time): per group, postgres, load_generator, machine_busy, other_work. */
		stop(): Record<string, number> {
			const after = read();
			const seconds = (after.at - before.at) / 1000;
			const cores = (ms: number) => round(ms / 1000 / seconds, 2);
			const groups = Object.fromEntries(
				Object.keys(processes).map((group) => [group, cores(after.processes[group]! - before.processes[group]!)])
			);
			const postgres = cores(after.postgres - before.postgres);
			const bench = cores(after.bench - before.bench);
			const machine = cores(after.machine.busy - before.machine.busy);
			const ours = Object.values(groups).reduce((a, b) => a + b, 0) + (Number.isNaN(postgres) ? 0 : postgres) + bench;
			return { ...groups, postgres, load_generator: bench, machine_busy: machine, other_work: round(Math.max(0, machine - ours), 2) };
		}
	};
}
