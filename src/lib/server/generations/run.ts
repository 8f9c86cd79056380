// One run of a generation under one claim of its job (0016): admission under the model's
// concurrency, progress, and completion, each refused by the database once the claim is not the
// live one. The fence also watches the claim on a timer, so a cancelled run stops within a second.
import type { Queryable } from '../db/client';
import { JobAbortedError } from '../worker/errors';

export interface GenerationRun {
	generationId: string;
	jobId: string;
	workerId: string;
	claimCount: number;
}

export type Admission = 'admitted' | 'busy' | 'lost';

export async function admitGeneration(sql: Queryable, run: GenerationRun): Promise<Admission> {
	const [row] = await sql<{ admission: Admission }[]>`
		select public.admit_generation(${run.generationId}, ${run.jobId}, ${run.workerId}, ${run.claimCount}) as admission`;
	return row!.admission;
}

/** Writes progress (or, with null, only asks); false once the run no longer holds its job. */
export async function recordGenerationProgress(sql: Queryable, run: GenerationRun, progress: number | null): Promise<boolean> {
	const [row] = await sql<{ held: boolean }[]>`
		select public.record_generation_progress(${run.generationId}, ${run.jobId}, ${run.workerId}, ${run.claimCount},
			${progress}::integer) as held`;
	return row!.held;
}

export interface StoredImage {
	imagePath: string;
	thumbnailPath: string;
	contentType: string;
	bytes: number;
	predictSeconds: number | null;
	predictionId: string | null;
	/** Null: the model's catalogue price. */
	pricePerSecondUsd?: number | null;
}

export async function completeGeneration(sql: Queryable, run: GenerationRun, image: StoredImage): Promise<boolean> {
	const [row] = await sql<{ done: boolean }[]>`
		select public.complete_generation(${run.generationId}, ${run.jobId}, ${run.workerId}, ${run.claimCount},
			${image.imagePath}, ${image.thumbnailPath}, ${image.contentType}, ${image.bytes}, ${image.predictSeconds},
			${image.predictionId}, ${image.pricePerSecondUsd ?? null}) as done`;
	return row!.done;
}

export interface Fence {
	/** Aborted when the run lost its job (or the worker's own signal aborted). */
	signal: AbortSignal;
	/** Progress as the model reports it; written at most every intervalMs (the last value always). */
	progress(percent: number, force?: boolean): Promise<void>;
	/** Throws JobAbortedError unless the run still holds its job, asking the database now. */
	check(): Promise<void>;
	stop(): void;
}

/**
 * Progress writes double as the fence: each says whether the claim is still ours. When the model
 * reports nothing for checkMs, a timer asks anyway. Either way a lost claim aborts `signal`.
 */
export function startFence(
	sql: Queryable,
	run: GenerationRun,
	parent: AbortSignal,
	options: { progressIntervalMs: number; checkMs: number; log?: (message: string) => void }
): Fence {
	const controller = new AbortController();
	const onParentAbort = () => controller.abort(parent.reason);
	if (parent.aborted) controller.abort(parent.reason);
	else parent.addEventListener('abort', onParentAbort, { once: true });

	let lastWrite = 0;
	let written = -1;
	let asking: Promise<void> | null = null;
	const lose = () => controller.abort(new JobAbortedError('lease-lost'));

	const write = (value: number | null) => {
		lastWrite = Date.now();
		if (value !== null) written = value;
		const ask = recordGenerationProgress(sql, run, value).then(
			(held) => {
				if (!held) lose();
			},
			(error: unknown) => options.log?.(`generation ${run.generationId}: progress not written: ${String(error)}`)
		);
		asking = ask.finally(() => {
			if (asking === ask) asking = null;
		});
		return ask;
	};

	const timer = setInterval(() => {
		if (!asking && !controller.signal.aborted && Date.now() - lastWrite >= options.checkMs) void write(null);
	}, options.checkMs);
	timer.unref();

	return {
		signal: controller.signal,
		async progress(percent, force = false) {
			const value = Math.max(0, Math.min(100, Math.round(percent)));
			if (value <= written || controller.signal.aborted) return;
			if (!force && Date.now() - lastWrite < options.progressIntervalMs) return;
			await write(value);
		},
		async check() {
			if (!controller.signal.aborted && !(await recordGenerationProgress(sql, run, null))) lose();
			if (controller.signal.aborted) throw controller.signal.reason;
		},
		stop() {
			clearInterval(timer);
			parent.removeEventListener('abort', onParentAbort);
		}
	};
}
