// Turns a prompt, negative prompt, seed and model into a scene: a palette, a sky, a sun or moon and
// layers of land, all in fractions of the picture so a scene looks alike at every size. Nothing
// here touches pixels (render.ts does); every choice comes from one hash, so the same
// inputs always give the same scene.
import { composeLands, type Land } from './layers';
import { THEMES, mix, nightfall, varyPalette, type Palette, type RGB, type ThemeName } from './palette';
import { Random, hashParts } from './random';
import { understand, type LandKind } from './words';

export type Detail = 'preview' | 'detailed';

export interface SceneInput {
	modelId: string;
	prompt: string;
	negativePrompt: string | null;
	seed: number;
	detail: Detail;
}

export interface Sun {
	/** Centre, as fractions of width and height. */
	x: number;
	y: number;
	/** Fraction of the shorter side. */
	radius: number;
	color: RGB;
	glow: RGB;
	/** Fraction of the longer side. */
	glowRadius: number;
	glowStrength: number;
	/** Retro "synthwave" sun cut by horizontal gaps. */
	stripes: boolean;
}

export interface Cloud {
	y: number;
	thickness: number;
	color: RGB;
	alpha: number;
	/** Sine waves (cycles across the width, phase) whose sum makes the streak patchy. */
	waves: [number, number][];
	coverage: number;
}

export interface Circle {
	x: number;
	y: number;
	radius: number;
	color: RGB;
	alpha: number;
}

export interface Scene {
	detail: Detail;
	palette: Palette;
	/** Where the far land meets the sky, fraction of height. */
	horizon: number;
	sun: Sun;
	/** Chance per pixel of a star; 0 for a day sky. */
	stars: number;
	clouds: Cloud[];
	circles: Circle[];
	lands: Land[];
	/** Glitter of the sun on water, when there is water. */
	reflection: { strength: number; width: number } | null;
	/** Fog lying on the horizon, 0-1. */
	fog: number;
	vignette: number;
	noiseSeed: number;
}

/** Far to near: the order kinds of land stand in when a prompt names two ("mountains by the lake"). */
const DEPTH_ORDER: LandKind[] = ['mountains', 'city', 'dunes', 'hills', 'trees', 'waves'];

const THEME_LANDS: Record<ThemeName, LandKind[]> = {
	sunset: ['mountains', 'waves', 'hills', 'dunes'],
	ocean: ['waves'],
	forest: ['trees'],
	night: ['mountains', 'waves', 'hills', 'city'],
	neon: ['city'],
	desert: ['dunes'],
	winter: ['mountains'],
	pastel: ['hills', 'dunes', 'mountains']
};

export function composeScene(input: SceneInput): Scene {
	const key = hashParts([
		'picture-local-v1',
		input.modelId,
		input.prompt,
		input.negativePrompt ?? '',
		String(input.seed)
	]);
	const random = new Random(key);
	const meaning = understand(input.prompt, input.negativePrompt);
	const detailed = input.detail === 'detailed';

	// Palette: the most mentioned theme, a touch of the second, night as a mood over any of them.
	const paletteRandom = random.fork('palette');
	const named = meaning.themes.filter((theme) => theme !== 'night');
	const unknown = meaning.themes.length === 0;
	const night =
		meaning.moods.has('night') || (unknown && !meaning.moods.size && paletteRandom.chance(0.15));
	const fog = meaning.moods.has('fog') || (unknown && paletteRandom.chance(0.2));
	const dayThemes = (Object.keys(THEMES) as ThemeName[]).filter((t) => t !== 'night');
	const theme: ThemeName = named[0] ?? (night ? 'night' : paletteRandom.pick(dayThemes));
	// A prompt that names no theme gets a bolder variation, so unknown prompts still differ.
	let palette = varyPalette(THEMES[theme], paletteRandom, unknown ? 45 : 12);
	const second = named[1];
	if (second) palette = blendPalettes(palette, THEMES[second], 0.2);
	if (night && theme !== 'night' && theme !== 'neon') palette = nightfall(palette);

	// Land: named kinds, else the theme's usual ones; at most two, far one behind near one.
	const landRandom = random.fork('land');
	const kinds = (meaning.lands.length ? meaning.lands : [landRandom.pick(THEME_LANDS[theme])])
		.slice(0, 2)
		.sort((a, b) => DEPTH_ORDER.indexOf(a) - DEPTH_ORDER.indexOf(b));
	const horizon = landRandom.range(0.5, 0.64);
	const mood = { detailed, fog, dark: night || theme === 'neon' };
	const lands = composeLands(kinds, horizon, palette, mood, landRandom);

	const sun = composeSun(theme, night, horizon, palette, random.fork('sun'));
	const skyRandom = random.fork('sky');
	return {
		detail: input.detail,
		palette,
		horizon,
		sun,
		stars: night ? skyRandom.range(0.0015, 0.004) : 0,
		clouds: composeClouds(skyRandom.int(detailed ? 3 : 1, detailed ? 6 : 2), horizon, palette, night, skyRandom),
		// Not at night: a pale disc in a dark sky reads as a second moon.
		circles: detailed && !night ? composeCircles(skyRandom.int(0, 2), horizon, palette, skyRandom) : [],
		lands,
		reflection: kinds.includes('waves')
			? { strength: theme === 'sunset' ? 0.75 : 0.45, width: sun.radius * 1.3 }
			: null,
		fog: fog ? 0.55 : 0.12,
		vignette: detailed ? 0.3 : 0.2,
		noiseSeed: random.uint32()
	};
}

function blendPalettes(a: Palette, b: Palette, t: number): Palette {
	const out = {} as Record<keyof Palette, RGB>;
	for (const key of Object.keys(a) as (keyof Palette)[]) out[key] = mix(a[key], b[key], t);
	return out;
}

function composeSun(theme: ThemeName, night: boolean, horizon: number, palette: Palette, random: Random): Sun {
	if (theme === 'neon') {
		return {
			x: random.range(0.38, 0.62),
			y: horizon - random.range(0.12, 0.2),
			radius: random.range(0.16, 0.22),
			color: palette.sun,
			glow: palette.glow,
			glowRadius: 0.45,
			glowStrength: 0.55,
			stripes: true
		};
	}
	if (night) {
		return {
			x: random.range(0.15, 0.85),
			y: random.range(0.12, Math.max(0.16, horizon - 0.25)),
			radius: random.range(0.035, 0.06),
			color: palette.sun,
			glow: palette.glow,
			glowRadius: 0.22,
			glowStrength: 0.35,
			stripes: false
		};
	}
	const low = theme === 'sunset' || theme === 'pastel';
	return {
		x: random.range(0.2, 0.8),
		y: horizon - (low ? random.range(0.03, 0.12) : random.range(0.18, 0.32)),
		radius: low ? random.range(0.07, 0.11) : random.range(0.045, 0.075),
		color: palette.sun,
		glow: palette.glow,
		glowRadius: low ? 0.5 : 0.35,
		glowStrength: low ? 0.75 : 0.4,
		stripes: false
	};
}

function composeClouds(count: number, horizon: number, palette: Palette, night: boolean, random: Random): Cloud[] {
	return Array.from({ length: count }, () => ({
		y: random.range(0.06, horizon - 0.06),
		thickness: random.range(0.004, 0.016),
		color: mix(palette.cloud, palette.glow, random.range(0, 0.5)),
		alpha: night ? random.range(0.15, 0.35) : random.range(0.3, 0.6),
		waves: Array.from({ length: 3 }, (_, i): [number, number] => [
			random.range(0.4, 1.6) * (i + 1),
			random.range(0, Math.PI * 2)
		]),
		coverage: random.range(-0.2, 0.4)
	}));
}

function composeCircles(count: number, horizon: number, palette: Palette, random: Random): Circle[] {
	const colors = [palette.glow, palette.accent, palette.cloud, palette.skyMid];
	return Array.from({ length: count }, () => ({
		x: random.range(0.05, 0.95),
		y: random.range(0.05, horizon - 0.05),
		radius: random.range(0.06, 0.28),
		color: random.pick(colors),
		alpha: random.range(0.04, 0.1)
	}));
}
