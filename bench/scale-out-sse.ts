// The SSE phase of the scale-out bench: one generation per subscriber, the subscribers spread over
// the apps (subscriber i on app i mod n), progress written as the worker writes it, and the delay
// from each write's commit to the client reading the event. Every app process LISTENs, so each
// change is heard (and its row read) by every app, whichever app its subscriber is on.
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/lib/server/db/client';
import { recordGenerationProgress, type GenerationRun } from '../src/lib/server/generations/run';
import { pooled, startClients, type Subscriber } from './sse-fanout';
import { percentile, round } from './support';

const WRITERS = 10;
const now = () => performance.timeOrigin + performance.now();

export interface SseResult {
	subscribers: number;
	rounds: number;
	events: number;
	missing: number;
	round_timeouts: number;
	/** Progress writes committed per second over the rounds (each one notifying). */
	writes_per_s: number;
	p50_ms: number;
	p99_ms: number;
	max_ms: number;
}

/**
 * runs[i] is watched by subscribers[i] on origins[i % n]. during() wraps the rounds (the probes
 * measure only while events flow, not while the streams connect).
 */
export async function sseRounds(
	origins: string[],
	sql: Sql,
	runs: GenerationRun[],
	tokens: string[],
	rounds: number,
	during: (rounds: () => Promise<void>) => Promise<void>
): Promise<SseResult> {
	const subscribers: Subscriber[] = runs.map((run, i) => ({ generationId: run.generationId, token: tokens[i]! }));
	const groups = origins.map((origin, k) => {
		const mine = subscribers.map((s, i) => ({ s, i })).filter(({ i }) => i % origins.length === k);
		return { indexes: mine.map((m) => m.i), clients: startClients(origin, mine.map((m) => m.s)), total: 0 };
	});
	const before = await sql<{ id: string; event_seq: string; progress: number }[]>`
		select id, event_seq, progress from image_generations where id = any(${runs.map((r) => r.generationId)}::uuid[])`;
	const seqs = new Map(before.map((r) => [r.id, Number(r.event_seq)]));
	const from = Math.max(...before.map((r) => r.progress));
	if (from + rounds > 100) throw new Error(`sse: progress ${from} leaves no room for ${rounds} rounds`);
	const committed = new Map<string, Map<number, number>>(runs.map((r) => [r.generationId, new Map()]));
	let timeouts = 0;
	try {
		const connected = await Promise.all(groups.map((g) => g.clients.next('connected', 60_000)));
		if (connected.some((c) => !c)) {
			throw new Error(`sse: not every subscriber connected: ${groups.flatMap((g) => g.clients.errors).slice(0, 3).join('; ')}`);
		}
		for (const g of groups) g.total = g.indexes.length; // each stream's first event: the state at connect
		const started = performance.now();
		await during(async () => {
			for (let step = 1; step <= rounds; step++) {
				const reached = groups.map((g) => {
					g.total += g.indexes.length;
					const waiting = g.clients.next('reached', 15_000);
					g.clients.post({ type: 'expect', total: g.total });
					return waiting;
				});
				await pooled(runs, WRITERS, async (run) => {
					if (!(await recordGenerationProgress(sql, run, from + step))) throw new Error(`sse: lost the claim of ${run.jobId}`);
					committed.get(run.generationId)!.set(seqs.get(run.generationId)! + step, now());
				});
				for (const ok of await Promise.all(reached)) if (!ok) timeouts++;
			}
		});
		const writesPerSecond = (runs.length * rounds) / ((performance.now() - started) / 1000);
		const delays: number[] = [];
		let missing = 0;
		for (const g of groups) {
			g.clients.post({ type: 'collect' });
			const collected = await g.clients.next('seen', 30_000);
			if (!collected) throw new Error('sse: the clients did not report');
			collected.seen.forEach((record, local) => {
				const times = committed.get(subscribers[g.indexes[local]!]!.generationId)!;
				const got = new Set(record.ids);
				record.ids.forEach((id, j) => {
					const at = times.get(id);
					if (at !== undefined) delays.push(record.times[j]! - at);
				});
				for (const id of times.keys()) if (!got.has(id)) missing++;
			});
		}
		delays.sort((a, b) => a - b);
		return {
			subscribers: subscribers.length,
			rounds,
			events: delays.length,
			missing,
			round_timeouts: timeouts,
			writes_per_s: round(writesPerSecond, 0),
			p50_ms: round(percentile(delays, 50)),
			p99_ms: round(percentile(delays, 99)),
			max_ms: round(delays.at(-1) ?? NaN)
		};
	} finally {
		for (const g of groups) {
			g.clients.post({ type: 'close' });
			await g.clients.next('closed', 5_000);
			await g.clients.terminate();
		}
	}
}
