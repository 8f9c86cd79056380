// Stale-while-revalidate for the few reads that cost the most and change slowly (the overview's
// week of model times and 24 hourly buckets, the metrics' base count of finished jobs). One per
// Services, so tests and processes never share answers through module state.
interface Entry {
	at: number;
	value: Promise<unknown>;
}

export class ReadCache {
	private readonly entries = new Map<string, Entry>();

	/**
	 * The remembered answer while younger than maxAgeMs; once older, still that answer while one
	 * recomputation runs in the background. Only the very first call waits. maxAgeMs <= 0 always
	 * computes afresh. A failed computation is never kept as the answer.
	 */
	get<T>(key: string, maxAgeMs: number, compute: () => Promise<T>): Promise<T> {
		if (maxAgeMs <= 0) return compute();
		const entry = this.entries.get(key);
		if (entry && Date.now() - entry.at < maxAgeMs) return entry.value as Promise<T>;
		const fresh = compute();
		const next = { at: Date.now(), value: fresh };
		if (entry) {
			entry.at = Date.now(); // one recomputation at a time; a failed one is retried after maxAgeMs
			fresh.then(() => this.entries.set(key, next)).catch(() => {});
			return entry.value as Promise<T>;
		}
		this.entries.set(key, next);
		fresh.catch(() => this.entries.get(key) === next && this.entries.delete(key));
		return fresh;
	}
}
