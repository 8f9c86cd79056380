// Colours and the hand-picked palettes the local model paints with. Palettes are chosen by words
// in the prompt and then varied a little by the seed, which keeps the results harmonious (random
// RGB colours almost never are).
import type { Random } from './random';

/** Red, green, blue in 0-255 (floats; rounded only when the pixels are written). */
export type RGB = readonly [number, number, number];

export function hex(value: string): RGB {
	const n = Number.parseInt(value.replace('#', ''), 16);
	return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function mix(a: RGB, b: RGB, t: number): RGB {
	return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

export function scale(color: RGB, factor: number): RGB {
	return [color[0] * factor, color[1] * factor, color[2] * factor];
}

/** Shifts hue (degrees), saturation and lightness (both -1..1, relative) in HSL space. */
export function adjust(color: RGB, hueDegrees: number, saturation = 0, lightness = 0): RGB {
	const [h, s, l] = toHsl(color);
	return fromHsl(
		(h + hueDegrees / 360 + 1) % 1,
		clamp01(s * (1 + saturation)),
		clamp01(lightness >= 0 ? l + (1 - l) * lightness : l * (1 + lightness))
	);
}

export function clamp01(value: number): number {
	return value < 0 ? 0 : value > 1 ? 1 : value;
}

function toHsl([r255, g255, b255]: RGB): [number, number, number] {
	const r = r255 / 255;
	const g = g255 / 255;
	const b = b255 / 255;
	const max = Math.max(r, g, b);
	const min = Math.min(r, g, b);
	const l = (max + min) / 2;
	if (max === min) return [0, 0, l];
	const d = max - min;
	const s = l > 0.5 ? d / (2 - max - min) : d / (max + min);
	let h: number;
	if (max === r) h = (g - b) / d + (g < b ? 6 : 0);
	else if (max === g) h = (b - r) / d + 2;
	else h = (r - g) / d + 4;
	return [h / 6, s, l];
}

function fromHsl(h: number, s: number, l: number): RGB {
	if (s === 0) return [l * 255, l * 255, l * 255];
	const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
	const p = 2 * l - q;
	const channel = (t: number): number => {
		const u = (t + 1) % 1;
		if (u < 1 / 6) return p + (q - p) * 6 * u;
		if (u < 1 / 2) return q;
		if (u < 2 / 3) return p + (q - p) * (2 / 3 - u) * 6;
		return p;
	};
	return [channel(h + 1 / 3) * 255, channel(h) * 255, channel(h - 1 / 3) * 255];
}

export interface Palette {
	skyTop: RGB;
	skyMid: RGB;
	skyHorizon: RGB;
	/** Sun or moon disc, and the glow around it. */
	sun: RGB;
	glow: RGB;
	/** The farthest and the nearest land; layers between are blended. */
	far: RGB;
	near: RGB;
	/** Mist in the valleys, fog and atmospheric perspective. */
	haze: RGB;
	/** Lit windows, neon, highlights. */
	accent: RGB;
	/** Soft streaks across the sky. */
	cloud: RGB;
}

export type ThemeName = 'sunset' | 'ocean' | 'forest' | 'night' | 'neon' | 'desert' | 'winter' | 'pastel';

function palette(colors: Record<keyof Palette, string>): Palette {
	return Object.fromEntries(Object.entries(colors).map(([k, v]) => [k, hex(v)])) as unknown as Palette;
}

export const THEMES: Record<ThemeName, Palette> = {
	sunset: palette({
		skyTop: '#2a1b4d',
		skyMid: '#d65a6c',
		skyHorizon: '#ffb86a',
		sun: '#fff2c4',
		glow: '#ff9a4a',
		far: '#b35866',
		near: '#2b1030',
		haze: '#f08a6a',
		accent: '#ffd36b',
		cloud: '#ff8a7a'
	}),
	ocean: palette({
		skyTop: '#0d3a66',
		skyMid: '#3b87bd',
		skyHorizon: '#b4e2f0',
		sun: '#fffbe8',
		glow: '#cfefff',
		far: '#2a78a8',
		near: '#05263f',
		haze: '#9fd3e6',
		accent: '#e8fbff',
		cloud: '#e6f4fb'
	}),
	forest: palette({
		skyTop: '#6f9fb2',
		skyMid: '#b3d2c6',
		skyHorizon: '#e7efd6',
		sun: '#fffce6',
		glow: '#f4f1c8',
		far: '#7ea287',
		near: '#12341f',
		haze: '#d5e4d0',
		accent: '#f2e59b',
		cloud: '#f4f6ea'
	}),
	night: palette({
		skyTop: '#03040c',
		skyMid: '#101735',
		skyHorizon: '#2c3b6e',
		sun: '#eef1ff',
		glow: '#6f80c8',
		far: '#1d2756',
		near: '#05070f',
		haze: '#34457e',
		accent: '#ffd98a',
		cloud: '#3b4a80'
	}),
	neon: palette({
		skyTop: '#0e0221',
		skyMid: '#3c0c5e',
		skyHorizon: '#ff3d9a',
		sun: '#ffd45e',
		glow: '#ff4fa3',
		far: '#3a1266',
		near: '#090118',
		haze: '#a4237e',
		accent: '#28eaff',
		cloud: '#c23aa0'
	}),
	desert: palette({
		skyTop: '#3f74b5',
		skyMid: '#90bddc',
		skyHorizon: '#f8dcae',
		sun: '#fffaea',
		glow: '#ffe2a8',
		far: '#d8a06c',
		near: '#8c4526',
		haze: '#f3cf9f',
		accent: '#fff1c4',
		cloud: '#fff4e0'
	}),
	winter: palette({
		skyTop: '#5f84b3',
		skyMid: '#b2c8e0',
		skyHorizon: '#eef3f9',
		sun: '#ffffff',
		glow: '#dce9ff',
		far: '#a4b7cf',
		near: '#33465e',
		haze: '#e4ecf5',
		accent: '#ffffff',
		cloud: '#f6f9fd'
	}),
	pastel: palette({
		skyTop: '#f3a6c4',
		skyMid: '#f8cdbf',
		skyHorizon: '#fff0d4',
		sun: '#fffaf0',
		glow: '#ffe0c2',
		far: '#c6a2da',
		near: '#6d4f94',
		haze: '#f6dbe4',
		accent: '#fff6b0',
		cloud: '#ffffff'
	})
};

/** Varies every colour of a palette the same way, so the variation stays harmonious. */
export function varyPalette(base: Palette, random: Random, hueRange: number): Palette {
	const hue = random.range(-hueRange, hueRange);
	const saturation = random.range(-0.15, 0.15);
	const lightness = random.range(-0.06, 0.06);
	const out = {} as Record<keyof Palette, RGB>;
	for (const key of Object.keys(base) as (keyof Palette)[]) {
		// Each colour also drifts a little on its own, for variety between seeds of one prompt.
		out[key] = adjust(base[key], hue + random.range(-6, 6), saturation, lightness);
	}
	return out;
}

/** Turns a day palette into its night version: darker, bluer, with a moon instead of a sun. */
export function nightfall(day: Palette): Palette {
	const night = THEMES.night;
	const dusk = (color: RGB, darkness: number): RGB => mix(color, night.skyTop, darkness);
	return {
		skyTop: dusk(day.skyTop, 0.85),
		skyMid: dusk(day.skyMid, 0.78),
		skyHorizon: dusk(day.skyHorizon, 0.62),
		sun: night.sun,
		glow: mix(day.glow, night.glow, 0.7),
		far: dusk(day.far, 0.55),
		near: dusk(day.near, 0.6),
		haze: dusk(day.haze, 0.65),
		accent: day.accent,
		cloud: dusk(day.cloud, 0.7)
	};
}
