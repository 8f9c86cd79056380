// Deterministic randomness for the local model: the same prompt, seed and model always give the
// same numbers, on every machine and Node version (no Math.random, no floating-point hashing).
import { createHash } from 'node:crypto';

/** SHA-256 of the parts, separated so that ('ab', 'c') and ('a', 'bc') differ. */
export function hashParts(parts: readonly string[]): Buffer {
	const hash = createHash('sha256');
	for (const part of parts) {
		hash.update(String(part.length));
		hash.update(':');
		hash.update(part);
	}
	return hash.digest();
}

/** sfc32: small, fast and good enough for art; seeded from 16 bytes of a hash. */
export class Random {
	private a: number;
	private b: number;
	private c: number;
	private d: number;

	constructor(
		private readonly key: Buffer,
		label = ''
	) {
		const bytes = label ? hashParts([key.toString('hex'), label]) : key;
		this.a = bytes.readUInt32LE(0);
		this.b = bytes.readUInt32LE(4);
		this.c = bytes.readUInt32LE(8);
		this.d = bytes.readUInt32LE(12);
		// The first outputs of sfc32 are poorly mixed; discard them.
		for (let i = 0; i < 12; i++) this.uint32();
	}

	/**
	 * An independent stream for one part of the picture, so adding a draw in one part (say, more
	 * clouds) does not reshuffle everything drawn after it.
	 */
	fork(label: string): Random {
		return new Random(this.key, label);
	}

	uint32(): number {
		const t = (((this.a + this.b) | 0) + this.d) | 0;
		this.d = (this.d + 1) | 0;
		this.a = this.b ^ (this.b >>> 9);
		this.b = (this.c + (this.c << 3)) | 0;
		this.c = (this.c << 21) | (this.c >>> 11);
		this.c = (this.c + t) | 0;
		return t >>> 0;
	}

	/** Uniform in [0, 1). */
	next(): number {
		return this.uint32() / 4294967296;
	}

	range(min: number, max: number): number {
		return min + (max - min) * this.next();
	}

	/** Integer in [min, max], both included. */
	int(min: number, max: number): number {
		return min + Math.floor(this.next() * (max - min + 1));
	}

	chance(probability: number): boolean {
		return this.next() < probability;
	}

	pick<T>(items: readonly T[]): T {
		const item = items[Math.floor(this.next() * items.length)];
		if (item === undefined) throw new Error('pick() from an empty list');
		return item;
	}
}

/**
 * A stateless hash of a pixel position, for per-pixel effects (stars, glitter, lit windows) that
 * must not depend on the order rows are rendered in. lowbias32 by Chris Wellons.
 */
export function hash2(x: number, y: number, seed: number): number {
	let h = (Math.imul(x, 0x27d4eb2d) ^ Math.imul(y, 0x165667b1) ^ seed) >>> 0;
	h ^= h >>> 16;
	h = Math.imul(h, 0x7feb352d);
	h ^= h >>> 15;
	h = Math.imul(h, 0x846ca68b);
	h ^= h >>> 16;
	return h >>> 0;
}
