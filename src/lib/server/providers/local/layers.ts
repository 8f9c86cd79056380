// The layers of land, far to near: where each lies, how high it rises and its colours. Far layers
// are paler (there is air between them and the viewer), near ones darker; valleys fill with mist,
// thicker when the prompt asks for fog. Fractions of the picture, like the rest of the scene.
import { adjust, mix, scale, type Palette, type RGB } from './palette';
import type { Random } from './random';
import type { LandKind } from './words';

export interface Land {
	kind: LandKind;
	/** The lowest line of the ridge (valleys), fraction of height; peaks rise `amplitude` above it. */
	y: number;
	amplitude: number;
	/** Colour at the ridge, and the colour it fades to over `fade` (fraction of height) below it. */
	top: RGB;
	bottom: RGB;
	fade: number;
	/** How much the sun's glow tints the land under it, 0-1. */
	sunlit: number;
	/** A bright rim along the ridge, backlit by the sky, 0-1. */
	rim: number;
	/** Features across the width: wave crests, trees, buildings. Larger is busier. */
	density: number;
	windows: { color: RGB; lit: number } | null;
	seed: number;
}

export interface Mood {
	detailed: boolean;
	fog: boolean;
	/** Night or neon: lit windows glow. */
	dark: boolean;
}

/** Where a layer lies, before it gets its colours. */
interface Placement {
	kind: LandKind;
	y: number;
	amplitude: number;
}

function layerCount(kind: LandKind, mood: Mood, random: Random): number {
	if (kind === 'waves') return mood.detailed ? 7 : 4;
	if (kind === 'city') return mood.detailed ? 3 : 2;
	return mood.detailed ? random.int(4, 5) : 3;
}

/** Lays out one or two kinds of land (far kind first); water always lies in front. */
export function composeLands(
	kinds: LandKind[],
	horizon: number,
	palette: Palette,
	mood: Mood,
	random: Random
): Land[] {
	const [farKind, nearKind] = kinds as [LandKind, LandKind | undefined];
	const plan: Placement[] = [];
	if (farKind === 'waves') {
		plan.push(...waveBands(horizon, 0.97, layerCount('waves', mood, random)));
	} else if (nearKind === 'waves') {
		// Land on the far shore, its foot hidden behind the water.
		const n = Math.max(2, layerCount(farKind, mood, random) - 3);
		for (let i = 0; i < n; i++) {
			const t = i / (n - 1);
			const amplitude = amplitudeOf(farKind, t) * 0.7;
			plan.push({ kind: farKind, y: horizon - 0.01 - (1 - t) * 0.04, amplitude });
		}
		plan.push(...waveBands(horizon, 0.97, layerCount('waves', mood, random)));
	} else {
		const n = layerCount(farKind, mood, random);
		const split = nearKind ? Math.ceil(n / 2) : n;
		for (let i = 0; i < n; i++) {
			const t = i / (n - 1);
			const kind = i < split ? farKind : (nearKind ?? farKind);
			plan.push({ kind, y: horizon + t * (0.9 - horizon), amplitude: amplitudeOf(kind, t) });
		}
	}
	return plan.map((placement, i) => {
		const depth = i / (plan.length - 1 || 1);
		return colour(placement, plan[i + 1], depth, palette, mood, random);
	});
}

function colour(
	placement: Placement,
	next: Placement | undefined,
	depth: number,
	palette: Palette,
	mood: Mood,
	random: Random
): Land {
	const air = (1 - depth) * (mood.fog ? 0.6 : 0.35);
	const base = mix(mix(palette.far, palette.near, Math.pow(depth, 0.85)), palette.haze, air);
	// The gradient below a ridge runs down to about where the next layer hides it.
	const gap = next ? Math.max(0.02, next.y - placement.y + next.amplitude) : 0.1;
	if (placement.kind === 'waves') {
		// Water: light crests catching the sky, darker troughs.
		return {
			...placement,
			top: mix(base, palette.skyHorizon, 0.3 + 0.2 * (1 - depth)),
			bottom: scale(base, 0.88),
			fade: Math.max(0.01, gap * 0.9),
			sunlit: 0,
			rim: 0,
			density: 1 - depth,
			windows: null,
			seed: random.uint32()
		};
	}
	const city = placement.kind === 'city';
	const mist = mood.fog ? 0.7 : 0.3;
	const lit = mood.dark ? random.range(0.18, 0.35) : random.range(0.05, 0.15);
	return {
		...placement,
		top: placement.kind === 'mountains' && depth < 0.5 ? adjust(base, 0, 0, 0.04) : base,
		bottom: mix(base, palette.haze, mist * (1 - depth * 0.7)),
		fade: gap * 1.6,
		sunlit: city ? 0 : (mood.dark ? 0.12 : 0.3) * (1 - depth * 0.5),
		rim: mood.detailed && !city ? (mood.dark ? 0.25 : 0.45) : 0,
		density: mood.detailed ? 1 : 0.6,
		// By day, windows barely show; far ones fade into the haze.
		windows: city
			? { color: mix(palette.accent, base, (mood.dark ? 0 : 0.6) + (1 - depth) * 0.35), lit }
			: null,
		seed: random.uint32()
	};
}

/** Bands of waves, closer together near the horizon (perspective). */
function waveBands(from: number, to: number, count: number): Placement[] {
	return Array.from({ length: count }, (_, i) => {
		const t = i / count;
		return { kind: 'waves', y: from + (to - from) * Math.pow(t, 1.5) + 0.004, amplitude: 0.004 + 0.05 * t * t };
	});
}

/** How high each kind rises above its valleys, by depth (0 far, 1 near). */
function amplitudeOf(kind: LandKind, depth: number): number {
	switch (kind) {
		case 'mountains':
			return 0.26 - depth * 0.14;
		case 'city':
			return 0.16 - depth * 0.08;
		case 'trees':
			return 0.08 + depth * 0.14;
		case 'dunes':
			return 0.09 - depth * 0.03;
		case 'hills':
			return 0.1 - depth * 0.03;
		case 'waves':
			return 0.02;
	}
}
