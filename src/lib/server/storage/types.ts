/** Where generated images live: a local folder by default, Supabase Storage when configured. */
export interface ImageStorage {
	readonly kind: 'fs' | 'supabase';
	put(key: string, data: Buffer, contentType: string): Promise<void>;
	/** null when there is no such object. */
	get(key: string): Promise<{ data: Buffer; contentType: string } | null>;
	delete(keys: string[]): Promise<void>;
	/**
	 * Throws, with a message naming the place and the problem, when images cannot be stored at
	 * all: run at start, so a broken store is reported there instead of by every job failing.
	 */
	check(): Promise<void>;
}

/** Keys are `<user id>/<generation id>.<ext>`: nothing that can climb out of the store. */
export function assertSafeKey(key: string): void {
	if (!/^[0-9a-f-]{36}\/[0-9a-f-]{36}(\.thumb)?\.(png|webp|jpg|jpeg)$/.test(key)) {
		throw new Error(`unsafe storage key: ${key}`);
	}
}
