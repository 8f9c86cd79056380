// The prediction state machine behind the fake Replicate server. Predictions advance one stage per
// GET (or explicit advance()), never by wall time, so tests need no sleeps to stay in step.
import { randomBytes } from 'node:crypto';

export type FakeOutcome = 'succeeded' | 'failed' | 'nsfw' | 'canceled';
export type FakeStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';

export interface PredictionScript {
	/** GETs answered 'starting' after the create (which itself answers 'starting' when > 0). Default 1. */
	startingPolls?: number;
	/** GETs answered 'processing', each with more tqdm lines in the logs. Default 3. */
	processingPolls?: number;
	/** The tqdm total; defaults to input.num_inference_steps or 20. */
	steps?: number;
	outcome?: FakeOutcome;
	/** The error of a 'failed' outcome. */
	error?: string;
	/** flux returns an array of URLs, older models one string. Default 'array'. */
	output?: 'array' | 'string';
	predictTime?: number;
	/** The output file answers 404 once this many more requests reached the server after success. */
	outputExpiresAfterRequests?: number | null;
}

export const NSFW_ERROR = 'NSFW content detected. Try running it again, or try a different prompt.';

export interface FakePrediction {
	id: string;
	model: string | null;
	version: string | null;
	input: Record<string, unknown>;
	webhook: string | null;
	webhookEventsFilter: string[] | null;
	/** The create request's JSON body, as received. */
	createBody: Record<string, unknown>;
	script: Required<PredictionScript>;
	/** Stages taken: 0 at creation, +1 per GET or advance(). */
	polls: number;
	/** Set by a cancel request: the prediction stops where it is. */
	canceledAt: string | null;
	createdAt: string;
	/** Server request count when success was first shown (for output expiry). */
	requestsAtSuccess: number | null;
	outputExpired: boolean;
}

/** A Replicate-looking id: 26 lowercase base32 characters. */
export function predictionId(): string {
	const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
	return [...randomBytes(26)].map((byte) => alphabet[byte % 32]).join('');
}

export function fullScript(script: PredictionScript, input: Record<string, unknown>): Required<PredictionScript> {
	const steps = typeof input.num_inference_steps === 'number' ? input.num_inference_steps : 20;
	return {
		startingPolls: script.startingPolls ?? 1,
		processingPolls: script.processingPolls ?? 3,
		steps: script.steps ?? steps,
		outcome: script.outcome ?? 'succeeded',
		error: script.error ?? 'CUDA out of memory. Tried to allocate 2.00 GiB',
		output: script.output ?? 'array',
		predictTime: script.predictTime ?? 1.234,
		outputExpiresAfterRequests: script.outputExpiresAfterRequests ?? null
	};
}

export function statusOf(p: FakePrediction): FakeStatus {
	if (p.canceledAt) return 'canceled';
	const { startingPolls, processingPolls, outcome } = p.script;
	if (p.polls < startingPolls) return 'starting';
	if (p.polls < startingPolls + processingPolls) return 'processing';
	return outcome === 'nsfw' ? 'failed' : outcome;
}

function tqdmLine(done: number, total: number): string {
	const percent = Math.floor((100 * done) / total);
	const filled = Math.floor(percent / 10);
	const bar = '█'.repeat(filled) + ' '.repeat(10 - filled);
	const rate = 8;
	const elapsed = Math.floor(done / rate);
	const left = Math.ceil((total - done) / rate);
	const clock = (s: number) => `00:${String(s).padStart(2, '0')}`;
	return `${String(percent).padStart(3)}%|${bar}| ${done}/${total} [${clock(elapsed)}<${clock(left)}, ${rate.toFixed(2)}it/s]`;
}

/** Logs as a model prints them: a seed line, then one tqdm line per stage reached so far. */
export function logsOf(p: FakePrediction): string {
	const { startingPolls, processingPolls, steps } = p.script;
	const reached = Math.min(p.polls - startingPolls + 1, processingPolls);
	if (p.polls < startingPolls) return '';
	const lines = [`Using seed: ${String(p.input.seed ?? 0)}`, tqdmLine(0, steps)];
	for (let k = 1; k <= reached; k += 1) {
		lines.push(tqdmLine(Math.floor((steps * k) / (processingPolls + 1)), steps));
	}
	if (statusOf(p) === 'succeeded') lines.push(tqdmLine(steps, steps));
	return `${lines.join('\n')}\n`;
}

/** The prediction as Replicate's API returns it. */
export function predictionJson(p: FakePrediction, origin: string): Record<string, unknown> {
	const status = statusOf(p);
	const done = status === 'succeeded' || status === 'failed' || status === 'canceled';
	const file = `${origin}/files/${p.id}.png`;
	const api = `${origin}/v1/predictions/${p.id}`;
	return {
		id: p.id,
		model: p.model ?? 'owner/versioned-model',
		version: p.version ?? 'hidden',
		input: p.input,
		logs: logsOf(p),
		output: status === 'succeeded' ? (p.script.output === 'array' ? [file] : file) : null,
		data_removed: false,
		error: status === 'failed' ? (p.script.outcome === 'nsfw' ? NSFW_ERROR : p.script.error) : null,
		status,
		source: 'api',
		created_at: p.createdAt,
		started_at: status === 'starting' ? null : p.createdAt,
		completed_at: done ? (p.canceledAt ?? new Date().toISOString()) : null,
		...(status === 'succeeded' ? { metrics: { predict_time: p.script.predictTime, total_time: p.script.predictTime + 0.5 } } : {}),
		...(p.webhook ? { webhook: p.webhook, webhook_events_filter: p.webhookEventsFilter } : {}),
		urls: { get: api, cancel: `${api}/cancel`, web: `https://replicate.com/p/${p.id}` }
	};
}

export const FLUX_ASPECT_RATIOS = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'];

/** Replicate's 422 for bad input; null when the input passes the (partial) schema checks. */
export function validateInput(model: string | null, input: unknown): Record<string, unknown> | null {
	const problems: { field: string; description: string }[] = [];
	if (typeof input !== 'object' || input === null) {
		problems.push({ field: 'input', description: 'input is required' });
	} else {
		const values = input as Record<string, unknown>;
		if (typeof values.prompt !== 'string' || values.prompt.length === 0) {
			problems.push({ field: 'input.prompt', description: 'prompt is required' });
		}
		if (model?.includes('flux')) {
			const oneOf = (field: string, allowed: string[]) => {
				if (field in values && !allowed.includes(String(values[field]))) {
					problems.push({ field: `input.${field}`, description: `${field} must be one of the following: ${allowed.map((a) => `"${a}"`).join(', ')}` });
				}
			};
			oneOf('aspect_ratio', FLUX_ASPECT_RATIOS);
			oneOf('megapixels', ['1', '0.25']);
			oneOf('output_format', ['webp', 'jpg', 'png']);
		}
	}
	if (problems.length === 0) return null;
	return {
		detail: problems.map((p) => `- ${p.field}: ${p.description}`).join('\n'),
		status: 422,
		title: 'Input validation failed',
		invalid_fields: problems.map((p) => ({ type: 'invalid', ...p }))
	};
}
