/**
 * A fresh idempotency key for one form render. randomUUID exists only in secure contexts (https,
 * localhost); elsewhere the same 122 random bits come from getRandomValues.
 */
export function newIdempotencyKey(): string {
	if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
	const bytes = crypto.getRandomValues(new Uint8Array(16));
	return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A random seed in the range the server accepts (0 to 2^32 - 1). */
export function randomSeed(): number {
	return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
