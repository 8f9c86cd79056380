// The outline of each layer of land, one value per pixel column: mountains, hills, dunes, waves,
// pine forests and city skylines. Shapes are drawn in fractions of the width, so a scene keeps its
// composition at every size; only the sampling depends on the pixel width.
import { Random, hashParts } from './random';
import type { Land } from './layers';

export interface LandShape {
	/**
	 * The top edge crosses each column between `lo` and `hi` (pixel y, fractional): the renderer
	 * uses both to anti-alias the edge by the area it covers.
	 */
	lo: Float32Array;
	hi: Float32Array;
	/**
	 * Where the colour gradient below the ridge starts: the edge, smoothed. Starting it at the
	 * exact edge would drag every crag's offset down the whole gradient as a vertical streak.
	 */
	ridge: Float32Array;
	/** The highest point: rows above it skip this layer. */
	minTop: number;
	/** The exact edge at each column's centre. */
	top: Float32Array;
	/** How much sunlight reaches each column, 0-1: most right under the sun. */
	sunlight: Float32Array;
	/** For skylines: the building each column belongs to (-1 for none) and its left edge. */
	buildings: { id: Int32Array; left: Int32Array } | null;
}

export function shapeLand(land: Land, width: number, height: number, sunX: number): LandShape {
	const random = new Random(hashParts(['land', String(land.seed)]));
	const heights = new Float32Array(width);
	let buildings: LandShape['buildings'] = null;
	switch (land.kind) {
		case 'mountains':
			fillMountains(heights, land.density, random);
			break;
		case 'hills':
			fillSines(heights, random, 0.6, 2.4, 3);
			break;
		case 'dunes':
			fillDunes(heights, random);
			break;
		case 'waves':
			fillWaves(heights, land.density, random);
			break;
		case 'trees':
			fillTrees(heights, land.density, (land.amplitude * height) / width, random);
			break;
		case 'city':
			buildings = fillCity(heights, land.density, height / width, random);
			break;
	}

	const top = new Float32Array(width);
	for (let x = 0; x < width; x++) top[x] = (land.y - land.amplitude * (heights[x] ?? 0)) * height;
	const lo = new Float32Array(width);
	const hi = new Float32Array(width);
	let minTop = Infinity;
	for (let x = 0; x < width; x++) {
		const here = top[x] ?? 0;
		// The edge runs from the midpoint with the left neighbour to the one with the right.
		const left = (here + (top[x - 1] ?? here)) / 2;
		const right = (here + (top[x + 1] ?? here)) / 2;
		lo[x] = Math.min(left, right, here);
		hi[x] = Math.max(left, right, here);
		minTop = Math.min(minTop, lo[x] ?? here);
	}
	if (buildings) {
		// Buildings have vertical walls: no sloped edge to smooth, and it would smear their roofs.
		lo.set(top);
		hi.set(top);
	}
	// Spiky outlines (pines, wave crests) need a wider blur than a mountain range.
	const spiky = land.kind === 'trees' || land.kind === 'waves';
	const ridge = land.kind === 'city' ? top : boxBlur(top, Math.max(1, Math.round(width / (spiky ? 10 : 50))));
	const sunlight = new Float32Array(width);
	for (let x = 0; x < width; x++) {
		const d = (x + 0.5 - sunX * width) / (width * 0.3);
		sunlight[x] = 0.25 + 0.75 * Math.exp(-d * d);
	}
	return { lo, hi, top, ridge, minTop, sunlight, buildings };
}

/** Midpoint displacement: a few big peaks, then ever smaller crags. */
function fillMountains(out: Float32Array, density: number, random: Random): void {
	const n = density >= 1 ? 512 : 128;
	const points = new Float32Array(n + 1);
	const coarse = 4;
	for (let i = 0; i <= coarse; i++) points[(i * n) / coarse] = random.range(0.1, 1);
	const roughness = random.range(0.5, 0.6);
	let amplitude = 0.45;
	for (let step = n / coarse; step > 1; step /= 2) {
		const half = step / 2;
		for (let i = half; i < n; i += step) {
			points[i] = ((points[i - half] ?? 0) + (points[i + half] ?? 0)) / 2 + (random.next() - 0.5) * amplitude;
		}
		amplitude *= roughness;
	}
	normalise(points);
	const width = out.length;
	for (let x = 0; x < width; x++) {
		const at = ((x + 0.5) / width) * n;
		const i = Math.min(n - 1, Math.floor(at));
		const f = at - i;
		out[x] = (points[i] ?? 0) * (1 - f) + (points[i + 1] ?? 0) * f;
	}
}

/** A sum of a few slow sines: rolling hills. */
function fillSines(out: Float32Array, random: Random, minCycles: number, maxCycles: number, count: number): void {
	const waves = Array.from({ length: count }, (_, i) => ({
		k: random.range(minCycles, maxCycles) * (i + 1) * Math.PI * 2,
		phase: random.range(0, Math.PI * 2),
		weight: 1 / (i + 1)
	}));
	const width = out.length;
	for (let x = 0; x < width; x++) {
		const u = (x + 0.5) / width;
		let sum = 0;
		for (const w of waves) sum += Math.sin(u * w.k + w.phase) * w.weight;
		out[x] = sum;
	}
	normalise(out);
}

/** Dunes: a long gentle windward slope and a steep lee side, two sizes overlaid. */
function fillDunes(out: Float32Array, random: Random): void {
	const layers = [
		{ cycles: random.range(1.2, 2.4), phase: random.next(), weight: 1 },
		{ cycles: random.range(3.5, 6), phase: random.next(), weight: 0.35 }
	];
	const crest = random.range(0.65, 0.8);
	const width = out.length;
	for (let x = 0; x < width; x++) {
		const u = (x + 0.5) / width;
		let sum = 0;
		for (const layer of layers) {
			const p = (u * layer.cycles + layer.phase) % 1;
			const shape = p < crest ? p / crest : (1 - p) / (1 - crest);
			sum += (0.5 - 0.5 * Math.cos(Math.PI * shape)) * layer.weight;
		}
		out[x] = sum;
	}
	normalise(out);
}

/** Waves: peaked crests and broad troughs; far bands have many small waves, near ones few big. */
function fillWaves(out: Float32Array, farness: number, random: Random): void {
	const cycles = 2.5 + farness * 10;
	const waves = [
		{ k: Math.PI * cycles * random.range(0.8, 1.2), phase: random.range(0, Math.PI), weight: 1 },
		{ k: Math.PI * cycles * random.range(1.7, 2.6), phase: random.range(0, Math.PI), weight: 0.4 }
	];
	const width = out.length;
	for (let x = 0; x < width; x++) {
		const u = (x + 0.5) / width;
		let sum = 0;
		for (const w of waves) {
			const trough = 1 - Math.abs(Math.sin(u * w.k + w.phase));
			sum += trough * trough * w.weight;
		}
		out[x] = sum;
	}
	normalise(out);
}

/** Rolling ground with pines on it: each pine a cone with tiers of branches. */
function fillTrees(out: Float32Array, density: number, scaleToWidth: number, random: Random): void {
	const width = out.length;
	fillSines(out, random, 0.5, 1.5, 2);
	for (let x = 0; x < width; x++) out[x] = (out[x] ?? 0) * 0.3;
	const tiers = 4;
	// Pines about four times as tall as they are wide, whatever the picture's aspect.
	const typical = 0.17 * scaleToWidth;
	for (let u = random.range(-0.02, 0.01); u < 1.03; u += (typical * random.range(0.9, 2.6)) / (0.5 + density / 2)) {
		const tall = random.range(0.55, 1);
		const halfWidth = tall * typical * random.range(0.8, 1.2);
		const from = Math.max(0, Math.floor((u - halfWidth) * width));
		const to = Math.min(width - 1, Math.ceil((u + halfWidth) * width));
		for (let x = from; x <= to; x++) {
			const t = Math.abs((x + 0.5) / width - u) / halfWidth;
			if (t >= 1) continue;
			// Height falls off towards the edge, with a notch at each tier: branches.
			const h = tall * (1 - t) - tall * 0.16 * ((t * tiers) % 1);
			if (h > (out[x] ?? 0)) out[x] = h;
		}
	}
}

/** A skyline: blocks of varied width and height, some with a stepped top or a mast. */
function fillCity(
	out: Float32Array,
	density: number,
	aspect: number,
	random: Random
): NonNullable<LandShape['buildings']> {
	const width = out.length;
	const id = new Int32Array(width).fill(-1);
	const left = new Int32Array(width);
	let building = 0;
	for (let u = random.range(-0.03, 0); u < 1; building++) {
		const w = random.range(0.025, 0.07) * (density >= 1 ? 1 : 1.3);
		const h = random.range(0.25, 1);
		const from = Math.max(0, Math.round(u * width));
		const to = Math.min(width, Math.round((u + w) * width));
		const step = random.chance(0.3) ? random.range(0.1, 0.25) : 0;
		const mast = random.chance(0.2) ? Math.round((from + to) / 2) : -1;
		for (let x = from; x < to; x++) {
			const edge = (x - from) / Math.max(1, to - from);
			const stepped = step > 0 && (edge < 0.2 || edge > 0.8) ? h - step : h;
			out[x] = stepped;
			id[x] = building;
			left[x] = from;
		}
		if (mast >= 0 && mast < width) out[mast] = h + 0.2 * Math.min(1, aspect);
		u += w + (random.chance(0.25) ? random.range(0.003, 0.015) : 0);
	}
	return { id, left };
}

/** Scales values to 0..1 in place. */
function normalise(values: Float32Array): void {
	let min = Infinity;
	let max = -Infinity;
	for (const v of values) {
		if (v < min) min = v;
		if (v > max) max = v;
	}
	const range = max - min || 1;
	for (let i = 0; i < values.length; i++) values[i] = ((values[i] ?? 0) - min) / range;
}

function boxBlur(values: Float32Array, radius: number): Float32Array {
	const width = values.length;
	const prefix = new Float64Array(width + 1);
	for (let x = 0; x < width; x++) prefix[x + 1] = (prefix[x] ?? 0) + (values[x] ?? 0);
	const out = new Float32Array(width);
	for (let x = 0; x < width; x++) {
		const from = Math.max(0, x - radius);
		const to = Math.min(width, x + radius + 1);
		out[x] = ((prefix[to] ?? 0) - (prefix[from] ?? 0)) / (to - from);
	}
	return out;
}
