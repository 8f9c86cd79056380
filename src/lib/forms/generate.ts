// The generate form's fields, read the same way by the form action on the server and by the page
// in the browser (which checks them before posting, with the same messages as the server).
import { checkSize, type Parsed, type SizeRules } from '$lib/schemas';

/** Exactly what the form posts, as text, so a failed submission can show it again unchanged. */
export interface GenerateFormValues {
	prompt: string;
	model_id: string;
	/** A preset's "<width>x<height>", or "custom" for the width and height fields. */
	size: string;
	width: string;
	height: string;
	seed_mode: 'random' | 'fixed';
	seed: string;
	negative_prompt: string;
	idempotency_key: string;
	/** Pictures per model, "1" to "4"; more than one, or any compared model, makes a group. */
	variations: string;
	/** Models to compare with model_id, side by side (a group). */
	compare_models: string[];
}

export interface SizePreset {
	id: string;
	label: string;
	width: number;
	height: number;
}

export const SIZE_PRESETS: SizePreset[] = [
	{ id: '512x512', label: 'Square', width: 512, height: 512 },
	{ id: '1024x1024', label: 'Large square', width: 1024, height: 1024 },
	{ id: '1024x768', label: 'Landscape 4:3', width: 1024, height: 768 },
	{ id: '768x1024', label: 'Portrait 3:4', width: 768, height: 1024 },
	{ id: '1024x576', label: 'Wide 16:9', width: 1024, height: 576 },
	{ id: '576x1024', label: 'Tall 9:16', width: 576, height: 1024 }
];

/** The presets a model can make (its min/max/step), so the page never offers an impossible size. */
export function presetsFor(rules: SizeRules | undefined): SizePreset[] {
	return rules ? SIZE_PRESETS.filter((p) => checkSize(p.width, p.height, rules) === null) : SIZE_PRESETS;
}

const text = (form: FormData, name: string) => {
	const value = form.get(name);
	return typeof value === 'string' ? value : '';
};

export function readGenerateForm(form: FormData): GenerateFormValues {
	return {
		prompt: text(form, 'prompt'),
		model_id: text(form, 'model_id'),
		size: text(form, 'size') || 'custom',
		width: text(form, 'width'),
		height: text(form, 'height'),
		seed_mode: text(form, 'seed_mode') === 'fixed' ? 'fixed' : 'random',
		seed: text(form, 'seed').trim(),
		negative_prompt: text(form, 'negative_prompt'),
		idempotency_key: text(form, 'idempotency_key'),
		variations: text(form, 'variations') || '1',
		compare_models: form.getAll('compare_models').filter((v): v is string => typeof v === 'string')
	};
}

/**
 * The body parseGenerationRequest takes: a preset decides the size unless "custom" is chosen, and the
 * seed counts only when "fixed" is. Fails only for what the form alone can get wrong.
 */
export function toGenerationBody(values: GenerateFormValues): Parsed<Record<string, unknown>> {
	const preset = SIZE_PRESETS.find((p) => p.id === values.size);
	if (values.seed_mode === 'fixed' && values.seed === '') return { ok: false, field: 'seed', error: 'Enter a seed, or choose Random' };
	const body = {
		prompt: values.prompt,
		model_id: values.model_id,
		width: preset ? preset.width : values.width,
		height: preset ? preset.height : values.height,
		seed: values.seed_mode === 'fixed' ? values.seed : null,
		negative_prompt: values.negative_prompt,
		idempotency_key: values.idempotency_key || null
	};
	const compared = values.compare_models.filter((id) => id !== values.model_id);
	if (compared.length === 0 && (values.variations === '1' || values.variations === '')) return { ok: true, value: body };
	// The group form (parseGroupRequest): the chosen model first, then the ones to compare it with.
	const { model_id, ...rest } = body;
	return { ok: true, value: { ...rest, models: [model_id, ...compared], variations: values.variations } };
}

export const EXAMPLE_PROMPTS = [
	'A lighthouse on a cliff in a storm, warm light in the window',
	'Misty pine forest at dawn, soft golden light, wide view',
	'A quiet harbour town at dusk, pastel houses, calm water',
	'Desert dunes under a violet night sky full of stars'
];
