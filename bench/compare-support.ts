// Shared by the comparisons (compare-queue.ts, compare-request.ts): interleaved rounds, medians,
// and one result line per figure carrying Picture's median, the reference's, their ratio and the goal.
import { emit, log, median, QUICK, round } from './support';

/** Three rounds even in quick mode: the medians are the point; quick mode shortens each round instead. */
export const ROUNDS = 3;

export interface Goal {
	/** The wording, e.g. ">= 1.5x graphile-worker". */
	text: string;
	/** The ratio that meets it (ratio >= minRatio), if the goal is a ratio. */
	minRatio?: number;
	/** A bound on Picture's own value (value <= maxValue), if the goal has one. */
	maxValue?: number;
}

export interface Comparison {
	name: string;
	unit: string;
	/** Picture's figure in each round. */
	picture: number[];
	/** The reference's figure in each round. */
	reference: number[];
	/** What the reference is, e.g. "graphile-worker 0.17.3, concurrency 10". */
	referenceName: string;
	/** 'higher' for throughputs (ratio = value / reference), 'lower' for latencies (reference / value). */
	better: 'higher' | 'lower';
	goal: Goal | null;
	details?: Record<string, unknown>;
}

export interface ComparisonResult {
	name: string;
	ratio: number;
	met: boolean | null;
}

/** Every comparison emitted in this process, for the summary line. */
const emitted: ComparisonResult[] = [];

export function emitComparison(comparison: Comparison): ComparisonResult {
	const value = median(comparison.picture);
	const reference = median(comparison.reference);
	const ratio = comparison.better === 'higher' ? value / reference : reference / value;
	const goal = comparison.goal;
	const met =
		goal === null
			? null
			: (goal.minRatio === undefined || ratio >= goal.minRatio) && (goal.maxValue === undefined || value <= goal.maxValue);
	const digits = comparison.unit === 'ms' ? 3 : 0;
	emit({
		name: comparison.name,
		value: round(value, digits),
		unit: comparison.unit,
		reference: round(reference, digits),
		reference_name: comparison.referenceName,
		ratio: round(ratio, 3),
		ratio_is: comparison.better === 'higher' ? 'value / reference (higher is better)' : 'reference / value (latency: higher is better)',
		goal: goal?.text ?? null,
		met,
		rounds: { picture: comparison.picture.map((v) => round(v, digits)), reference: comparison.reference.map((v) => round(v, digits)) },
		statistic: `median of ${comparison.picture.length} interleaved rounds (Picture first in each)`,
		quick: QUICK,
		...comparison.details
	});
	const result = { name: comparison.name, ratio: round(ratio, 3), met };
	emitted.push(result);
	return result;
}

/** The summary of every comparison emitted so far: each ratio and whether its goal holds. */
export function emitSummary(): void {
	const withGoal = emitted.filter((c) => c.met !== null);
	emit({
		name: 'compare.summary',
		value: withGoal.filter((c) => c.met).length,
		unit: `goals met of ${withGoal.length}`,
		ratios: Object.fromEntries(emitted.map((c) => [c.name, c.ratio])),
		met: Object.fromEntries(emitted.map((c) => [c.name, c.met])),
		quick: QUICK
	});
}

/**
 * Runs Picture's side and the reference's alternately, ROUNDS times (Picture, reference, Picture,
 * reference, ...), so drift in the machine's load falls on both.
 */
export async function interleave<T>(label: string, picture: (round: number) => Promise<T>, reference: (round: number) => Promise<T>): Promise<{ picture: T[]; reference: T[] }> {
	const results = { picture: [] as T[], reference: [] as T[] };
	for (let r = 1; r <= ROUNDS; r++) {
		log(`${label}: round ${r}/${ROUNDS}, Picture`);
		results.picture.push(await picture(r));
		log(`${label}: round ${r}/${ROUNDS}, reference`);
		results.reference.push(await reference(r));
	}
	return results;
}
