// Paints a scene into RGB pixels, a band of rows at a time (one band per model step), and encodes
// the PNG. Every effect works on one row of floats so the hot loops are plain arithmetic over typed
// arrays: a 1024x1024 picture takes a small fraction of a second.
import sharp from 'sharp';
import type { Land } from './layers';
import { shapeLand, type LandShape } from './outline';
import { clamp01, mix, type RGB } from './palette';
import { hash2 } from './random';
import type { Scene } from './scene';

// 4x4 ordered dither, centred on zero: breaks up banding in smooth gradients without the cost (in
// PNG size) of random noise.
const BAYER = [0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5].map((v) => (v + 0.5) / 16 - 0.5);

export class SceneRenderer {
	readonly pixels: Buffer;
	private readonly row: Float32Array;
	private readonly lands: { land: Land; shape: LandShape; windows: WindowGrid | null }[];
	private readonly cloudCover: Float32Array[];
	private readonly horizonY: number;

	constructor(
		private readonly scene: Scene,
		readonly width: number,
		readonly height: number
	) {
		this.pixels = Buffer.alloc(width * height * 3);
		this.row = new Float32Array(width * 3);
		this.horizonY = scene.horizon * height;
		this.lands = scene.lands.map((land) => ({
			land,
			shape: shapeLand(land, width, height, scene.sun.x),
			windows: windowGrid(land, width)
		}));
		// How much of each cloud streak shows in each column: patches, not a ruler-straight line.
		this.cloudCover = scene.clouds.map((cloud) => {
			const cover = new Float32Array(width);
			for (let x = 0; x < width; x++) {
				const u = x / width;
				let sum = cloud.coverage;
				for (const [cycles, phase] of cloud.waves) sum += Math.sin(u * cycles * Math.PI * 2 + phase) * 0.5;
				cover[x] = sum <= 0 ? 0 : sum >= 1 ? 1 : sum * sum * (3 - 2 * sum);
			}
			return cover;
		});
	}

	/** Paints rows [from, to). Rows are independent, so bands can come in any order. */
	renderRows(from: number, to: number): void {
		for (let y = from; y < to; y++) {
			this.sky(y);
			this.glow(y);
			if (this.scene.stars > 0) this.stars(y);
			this.circles(y);
			this.clouds(y);
			this.sun(y);
			for (const { land, shape, windows } of this.lands) this.land(y, land, shape, windows);
			if (this.scene.reflection) this.reflection(y);
			this.fog(y);
			this.write(y);
		}
	}

	async png(): Promise<Buffer> {
		return sharp(this.pixels, { raw: { width: this.width, height: this.height, channels: 3 } })
			.png({ compressionLevel: 6 })
			.toBuffer();
	}

	private sky(y: number): void {
		const { skyTop, skyMid, skyHorizon } = this.scene.palette;
		const t = Math.min(1, (y + 0.5) / this.horizonY);
		// Most of the sky's change happens near the horizon, as in a real sky.
		const c = t < 0.55 ? mix(skyTop, skyMid, smooth(t / 0.55)) : mix(skyMid, skyHorizon, smooth((t - 0.55) / 0.45));
		const row = this.row;
		for (let i = 0; i < row.length; i += 3) {
			row[i] = c[0];
			row[i + 1] = c[1];
			row[i + 2] = c[2];
		}
	}

	/** Light around the sun, added with a screen blend so it brightens without washing out. */
	private glow(y: number): void {
		const { sun } = this.scene;
		const radius = sun.glowRadius * Math.max(this.width, this.height);
		const inv = 1 / (radius * radius);
		const dy = y + 0.5 - sun.y * this.height;
		const dy2 = dy * dy * inv;
		if (dy2 > 12) return;
		const sx = sun.x * this.width;
		const [gr, gg, gb] = sun.glow;
		const row = this.row;
		for (let x = 0; x < this.width; x++) {
			const dx = x + 0.5 - sx;
			const e = dx * dx * inv + dy2;
			if (e > 12) continue;
			const g = Math.exp(-e) * sun.glowStrength;
			const i = x * 3;
			row[i] = screen(row[i] ?? 0, gr * g);
			row[i + 1] = screen(row[i + 1] ?? 0, gg * g);
			row[i + 2] = screen(row[i + 2] ?? 0, gb * g);
		}
	}

	private stars(y: number): void {
		if (y >= this.horizonY) return;
		const threshold = this.scene.stars * 4294967296;
		// Fewer, fainter stars towards the horizon, where the air is thicker.
		const fade = 1 - Math.pow(y / this.horizonY, 2);
		const seed = this.scene.noiseSeed;
		const row = this.row;
		for (let x = 0; x < this.width; x++) {
			const h = hash2(x, y, seed);
			if (h >= threshold) continue;
			const b = h / threshold;
			const light = 255 * fade * (0.25 + 0.75 * b * b * b);
			const i = x * 3;
			row[i] = screen(row[i] ?? 0, light);
			row[i + 1] = screen(row[i + 1] ?? 0, light);
			row[i + 2] = screen(row[i + 2] ?? 0, light * 1.05);
		}
	}

	private circles(y: number): void {
		const side = Math.min(this.width, this.height);
		for (const circle of this.scene.circles) {
			this.disc(y, circle.x * this.width, circle.y * this.height, circle.radius * side, circle.alpha, circle.color);
		}
	}

	private clouds(y: number): void {
		const row = this.row;
		this.scene.clouds.forEach((cloud, index) => {
			const thickness = cloud.thickness * this.height;
			const d = (y + 0.5 - cloud.y * this.height) / thickness;
			if (d * d > 9) return;
			const d2 = d * d;
			const cover = this.cloudCover[index];
			if (!cover) return;
			const [cr, cg, cb] = cloud.color;
			for (let x = 0; x < this.width; x++) {
				const c = cover[x] ?? 0;
				if (c <= 0) continue;
				// Thicker where the streak is dense, thinning to wisps at its ends.
				const s = 0.3 + 0.7 * c;
				const a = Math.exp(-d2 / (s * s)) * c * cloud.alpha;
				const i = x * 3;
				row[i] = (row[i] ?? 0) + (cr - (row[i] ?? 0)) * a;
				row[i + 1] = (row[i + 1] ?? 0) + (cg - (row[i + 1] ?? 0)) * a;
				row[i + 2] = (row[i + 2] ?? 0) + (cb - (row[i + 2] ?? 0)) * a;
			}
		});
	}

	private sun(y: number): void {
		const { sun } = this.scene;
		const radius = sun.radius * Math.min(this.width, this.height);
		const cy = sun.y * this.height;
		const rel = (y + 0.5 - cy) / radius;
		if (sun.stripes && rel > 0) {
			// Gaps that widen towards the bottom of the disc.
			const gap = 0.1 + rel * 0.5;
			const phase = (rel * 5) % 1;
			if (phase < gap) return;
		}
		// A retro sun shades from its colour to the glow's; a plain one stays flat.
		const color = sun.stripes ? mix(sun.color, sun.glow, smooth((rel + 1) / 2)) : sun.color;
		this.disc(y, sun.x * this.width, cy, radius, 1, color);
	}

	/** Blends `color` over the row where it crosses a disc, with an anti-aliased rim. */
	private disc(y: number, cx: number, cy: number, radius: number, opacity: number, color: RGB): void {
		const dy = y + 0.5 - cy;
		const reach = radius + 1;
		if (Math.abs(dy) >= reach) return;
		const half = Math.sqrt(reach * reach - dy * dy);
		const from = Math.max(0, Math.floor(cx - half));
		const to = Math.min(this.width, Math.ceil(cx + half));
		const row = this.row;
		const [r, g, b] = color;
		for (let x = from; x < to; x++) {
			const dx = x + 0.5 - cx;
			const cover = clamp01(radius - Math.sqrt(dx * dx + dy * dy) + 0.5);
			if (cover <= 0) continue;
			const a = cover * opacity;
			const i = x * 3;
			row[i] = (row[i] ?? 0) + (r - (row[i] ?? 0)) * a;
			row[i + 1] = (row[i + 1] ?? 0) + (g - (row[i + 1] ?? 0)) * a;
			row[i + 2] = (row[i + 2] ?? 0) + (b - (row[i + 2] ?? 0)) * a;
		}
	}

	private land(y: number, land: Land, shape: LandShape, windows: WindowGrid | null): void {
		if (y + 1 <= shape.minTop) return;
		const { lo, hi, top, ridge, sunlight, buildings } = shape;
		const fade = Math.max(1, land.fade * this.height);
		const rimWidth = Math.max(1.5, this.height * 0.004);
		const lit = land.sunlit > 0 || land.rim > 0;
		const [gr, gg, gb] = this.scene.sun.glow;
		const [tr, tg, tb] = land.top;
		const dr = land.bottom[0] - tr;
		const dg = land.bottom[1] - tg;
		const db = land.bottom[2] - tb;
		const row = this.row;
		for (let x = 0; x < this.width; x++) {
			const cover = coverage(y, lo[x] ?? 0, hi[x] ?? 0);
			if (cover <= 0) continue;
			const depth = (y + 0.5 - (ridge[x] ?? 0)) / fade;
			const t = depth <= 0 ? 0 : depth >= 1 ? 1 : depth;
			let r = tr + dr * t;
			let g = tg + dg * t;
			let b = tb + db * t;
			if (lit) {
				// The sun's glow on the land below it, and on the very edge of the ridge.
				const edge = 1 - (y + 0.5 - (top[x] ?? 0)) / rimWidth;
				const s = (sunlight[x] ?? 0) * (land.sunlit * (1 - 0.6 * t) + (edge > 0 ? land.rim * edge : 0));
				r += (gr - r) * s;
				g += (gg - g) * s;
				b += (gb - b) * s;
			}
			if (windows && buildings && isLitWindow(windows, buildings, top, x, y)) {
				r = windows.color[0];
				g = windows.color[1];
				b = windows.color[2];
			}
			const i = x * 3;
			row[i] = (row[i] ?? 0) + (r - (row[i] ?? 0)) * cover;
			row[i + 1] = (row[i + 1] ?? 0) + (g - (row[i + 1] ?? 0)) * cover;
			row[i + 2] = (row[i + 2] ?? 0) + (b - (row[i + 2] ?? 0)) * cover;
		}
	}

	/** The sun's glitter on water: a column of broken light widening towards the viewer. */
	private reflection(y: number): void {
		const { reflection, sun } = this.scene;
		if (!reflection || y < this.horizonY + 2) return;
		const depth = (y - this.horizonY) / (this.height - this.horizonY);
		// Some rows glint, some do not, like light broken by ripples.
		const glint = (hash2(7, y, this.scene.noiseSeed) & 1023) / 1023;
		const flicker = glint * glint;
		if (flicker <= 0.01) return;
		const width = reflection.width * Math.min(this.width, this.height) * (0.5 + 1.2 * depth);
		const inv = 1 / (width * width);
		const sx = sun.x * this.width;
		const strength = reflection.strength * flicker * (1 - depth * 0.6);
		const [sr, sg, sb] = mix(sun.color, sun.glow, 0.4);
		const row = this.row;
		const from = Math.max(0, Math.floor(sx - width * 3));
		const to = Math.min(this.width, Math.ceil(sx + width * 3));
		for (let x = from; x < to; x++) {
			const dx = x + 0.5 - sx;
			const a = Math.exp(-dx * dx * inv) * strength;
			const i = x * 3;
			row[i] = screen(row[i] ?? 0, sr * a);
			row[i + 1] = screen(row[i + 1] ?? 0, sg * a);
			row[i + 2] = screen(row[i + 2] ?? 0, sb * a);
		}
	}

	/** Fog lying on the horizon. */
	private fog(y: number): void {
		const d = (y + 0.5 - this.horizonY) / (this.height * 0.1);
		const amount = this.scene.fog * Math.exp(-d * d);
		if (amount < 0.004) return;
		const [hr, hg, hb] = this.scene.palette.haze;
		const row = this.row;
		for (let i = 0; i < row.length; i += 3) {
			row[i] = (row[i] ?? 0) + (hr - (row[i] ?? 0)) * amount;
			row[i + 1] = (row[i + 1] ?? 0) + (hg - (row[i + 1] ?? 0)) * amount;
			row[i + 2] = (row[i + 2] ?? 0) + (hb - (row[i + 2] ?? 0)) * amount;
		}
	}

	/** Vignette and dither, then 8-bit pixels. */
	private write(y: number): void {
		const { vignette } = this.scene;
		const dy = (y + 0.5) / this.height - 0.5;
		const dy2 = dy * dy;
		const bayerRow = (y & 3) * 4;
		const row = this.row;
		const out = this.pixels;
		const offset = y * this.width * 3;
		for (let x = 0; x < this.width; x++) {
			const dx = (x + 0.5) / this.width - 0.5;
			const v = 1 - vignette * 2 * (dx * dx + dy2);
			const noise = BAYER[bayerRow + (x & 3)] ?? 0;
			const i = x * 3;
			out[offset + i] = byte((row[i] ?? 0) * v + noise);
			out[offset + i + 1] = byte((row[i + 1] ?? 0) * v + noise);
			out[offset + i + 2] = byte((row[i + 2] ?? 0) * v + noise);
		}
	}
}

/** Windows are cells of a grid on each building; a hash of the cell decides which are lit. */
interface WindowGrid {
	color: RGB;
	/** Cell size in pixels: nearer (taller) skylines have bigger windows. */
	across: number;
	down: number;
	threshold: number;
	seed: number;
}

function windowGrid(land: Land, width: number): WindowGrid | null {
	if (!land.windows) return null;
	const across = Math.max(4, Math.round(width * 0.008 * (0.6 + land.amplitude * 3)));
	return {
		color: land.windows.color,
		across,
		down: Math.round(across * 1.4),
		threshold: land.windows.lit * 4294967296,
		seed: land.seed
	};
}

function isLitWindow(
	grid: WindowGrid,
	buildings: NonNullable<LandShape['buildings']>,
	roof: Float32Array,
	x: number,
	y: number
): boolean {
	const id = buildings.id[x] ?? -1;
	if (id < 0) return false;
	// Below a blank band under the roof, and right of the wall's first pixel.
	const down = y - (roof[x] ?? 0) - grid.across;
	const across = x - (buildings.left[x] ?? 0) - 1;
	if (down < 0 || across < 0) return false;
	// A frame of unlit wall around each window.
	if (across % grid.across >= grid.across - 1 - (grid.across >> 2)) return false;
	if (down % grid.down >= grid.down - (grid.down >> 1)) return false;
	return hash2(id * 4096 + Math.floor(across / grid.across), Math.floor(down / grid.down), grid.seed) < grid.threshold;
}

/** Fraction of pixel row [y, y + 1] lying below an edge that crosses the column from lo to hi. */
function coverage(y: number, lo: number, hi: number): number {
	const bottom = y + 1;
	if (bottom <= lo) return 0;
	if (y >= hi) return 1;
	const span = hi - lo;
	if (span < 1e-3) return clamp01(bottom - lo);
	// Exact area: average over edge heights in [lo, hi] of the covered part of the row.
	return (area(bottom - lo) - area(bottom - hi)) / span;
}

/** Integral of clamp(z, 0, 1) from 0 to z. */
function area(z: number): number {
	return z <= 0 ? 0 : z < 1 ? (z * z) / 2 : z - 0.5;
}

function smooth(t: number): number {
	const c = clamp01(t);
	return c * c * (3 - 2 * c);
}

function screen(base: number, light: number): number {
	return base + light * (1 - base / 255);
}

function byte(v: number): number {
	return v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
}
