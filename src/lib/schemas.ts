// Input rules for starting a generation, shared by the JSON endpoint, the form action and the
// browser (which shows the same messages before submitting). No server imports here.

export const PROMPT_MAX = 2000;
export const SEED_MAX = 2 ** 32 - 1;

export interface SizeRules {
	min_size: number;
	max_size: number;
	size_step: number;
}

export interface GenerationRequest {
	prompt: string;
	model_id: string;
	width: number;
	height: number;
	seed: number | null;
	negative_prompt: string | null;
	idempotency_key: string | null;
}

export type FieldError = { error: string; field: string };
export type Parsed<T> = { ok: true; value: T } | ({ ok: false } & FieldError);

const fail = (field: string, error: string): { ok: false } & FieldError => ({ ok: false, field, error });

/** A whole number, from JSON or a form's text; never one a double cannot hold exactly (past 2^53). */
function integer(value: unknown): number | null {
	if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
	if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) {
		const parsed = Number(value);
		return Number.isSafeInteger(parsed) ? parsed : null;
	}
	return null;
}

// Newline, carriage return and tab are text; every other C0/C1 control (NUL among them, which
// Postgres cannot store) and a lone UTF-16 surrogate (not text at all) is refused.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a piece of free text cannot be stored as written, or null when it can. */
function textProblem(label: string, value: string): string | null {
	const length = [...value].length; // characters as Postgres counts them, so an emoji is one
	if (length > PROMPT_MAX) return `${label} is ${length} characters; the limit is ${PROMPT_MAX}`;
	if (CONTROL.test(value)) return `${label} contains a control character; use plain text, new lines and tabs only`;
	if (LONE_SURROGATE.test(value)) return `${label} contains text that is not valid Unicode`;
	return null;
}

/** Shape and basic rules; the model's own size rules are checked by checkSize once it is known. */
export function parseGenerationRequest(input: unknown): Parsed<GenerationRequest> {
	if (typeof input !== 'object' || input === null || Array.isArray(input)) {
		return fail('body', 'The request body must be a JSON object');
	}
	const body = input as Record<string, unknown>;
	if (typeof body.prompt !== 'string') return fail('prompt', 'Write a prompt describing the image');
	const prompt = body.prompt.trim();
	if (prompt.length === 0) return fail('prompt', 'Write a prompt describing the image');
	const promptProblem = textProblem('The prompt', prompt);
	if (promptProblem) return fail('prompt', promptProblem);

	if (typeof body.model_id !== 'string' || body.model_id.trim() === '') return fail('model_id', 'Choose a model');
	if (body.model_id.length > 200 || CONTROL.test(body.model_id)) return fail('model_id', 'There is no model by that name');

	const width = integer(body.width);
	if (width === null) return fail('width', 'Width must be a whole number of pixels');
	const height = integer(body.height);
	if (height === null) return fail('height', 'Height must be a whole number of pixels');

	let seed: number | null = null;
	if (body.seed !== undefined && body.seed !== null && body.seed !== '') {
		seed = integer(body.seed);
		if (seed === null || seed < 0 || seed > SEED_MAX) {
			return fail('seed', `The seed must be a whole number from 0 to ${SEED_MAX}`);
		}
	}

	let negative: string | null = null;
	if (body.negative_prompt !== undefined && body.negative_prompt !== null) {
		if (typeof body.negative_prompt !== 'string') return fail('negative_prompt', 'The negative prompt must be text');
		negative = body.negative_prompt.trim() || null;
		const negativeProblem = negative && textProblem('The negative prompt', negative);
		if (negativeProblem) return fail('negative_prompt', negativeProblem);
	}

	let key: string | null = null;
	if (body.idempotency_key !== undefined && body.idempotency_key !== null) {
		if (typeof body.idempotency_key !== 'string' || !/^[\w.:-]{1,255}$/.test(body.idempotency_key)) {
			return fail('idempotency_key', 'The idempotency key must be 1-255 letters, digits, or . _ : -');
		}
		key = body.idempotency_key;
	}

	return {
		ok: true,
		value: { prompt, model_id: body.model_id.trim(), width, height, seed, negative_prompt: negative, idempotency_key: key }
	};
}

export function checkSize(width: number, height: number, rules: SizeRules): FieldError | null {
	for (const [field, value] of [
		['width', width],
		['height', height]
	] as const) {
		if (value < rules.min_size || value > rules.max_size) {
			return { field, error: `${field[0]!.toUpperCase()}${field.slice(1)} must be from ${rules.min_size} to ${rules.max_size} pixels for this model` };
		}
		if (value % rules.size_step !== 0) {
			return { field, error: `${field[0]!.toUpperCase()}${field.slice(1)} must be a multiple of ${rules.size_step}` };
		}
	}
	return null;
}

export const GROUP_MODELS_MAX = 4;
export const GROUP_VARIATIONS_MAX = 4;

/** One prompt, several pictures: each model in `model_ids` makes `variations` pictures with different seeds. */
export interface GroupRequest {
	prompt: string;
	model_ids: string[];
	variations: number;
	width: number;
	height: number;
	/** The first variation's seed; the others follow it (seed + 1, ...). Null: random seeds. */
	seed: number | null;
	negative_prompt: string | null;
	idempotency_key: string | null;
}

/** The group form names `models` (a list) or `variations` (a count); the single form names neither. */
export function isGroupForm(input: unknown): boolean {
	return typeof input === 'object' && input !== null && !Array.isArray(input) && ('models' in input || 'variations' in input);
}

/**
 * The group form: `models` (1-4 distinct model ids; or `model_id` alone) and `variations` (1-4,
 * default 1), with the single form's other fields and rules.
 */
export function parseGroupRequest(input: unknown): Parsed<GroupRequest> {
	if (!isGroupForm(input)) return fail('body', 'The request body must be a JSON object naming models or variations');
	const body = input as Record<string, unknown>;
	let modelIds: string[];
	if (body.models !== undefined) {
		if (!Array.isArray(body.models) || body.models.length < 1 || body.models.length > GROUP_MODELS_MAX) {
			return fail('models', `Choose 1 to ${GROUP_MODELS_MAX} models`);
		}
		if (body.model_id !== undefined) return fail('model_id', 'Name the models in models, or one in model_id, not both');
		modelIds = [];
		for (const model of body.models) {
			if (typeof model !== 'string' || model.trim() === '' || model.length > 200 || CONTROL.test(model)) {
				return fail('models', 'Every model must be the name of a model');
			}
			if (modelIds.includes(model.trim())) return fail('models', 'Each model can be chosen once; ask for variations to get several of one');
			modelIds.push(model.trim());
		}
	} else {
		modelIds = [];
	}
	let variations = 1;
	if (body.variations !== undefined && body.variations !== null && body.variations !== '') {
		const count = integer(body.variations);
		if (count === null || count < 1 || count > GROUP_VARIATIONS_MAX) {
			return fail('variations', `Variations must be a whole number from 1 to ${GROUP_VARIATIONS_MAX}`);
		}
		variations = count;
	}
	// The rest is the single form's rules, with a placeholder model where the list names them.
	const single = parseGenerationRequest(modelIds.length ? { ...body, model_id: modelIds[0] } : body);
	if (!single.ok) return single;
	const { model_id, ...rest } = single.value;
	return { ok: true, value: { ...rest, model_ids: modelIds.length ? modelIds : [model_id], variations } };
}
