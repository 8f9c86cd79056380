// Supabase Storage through its REST API (the same calls supabase-js makes), with the service role key.
import { assertSafeKey, type ImageStorage } from './types';

export interface SupabaseStorageOptions {
	url: string;
	serviceRoleKey: string;
	bucket: string;
	fetch?: typeof fetch;
}

export function createSupabaseStorage(options: SupabaseStorageOptions): ImageStorage {
	const doFetch = options.fetch ?? fetch;
	const base = `${options.url.replace(/\/+$/, '')}/storage/v1/object/${encodeURIComponent(options.bucket)}`;
	const headers = { authorization: `Bearer ${options.serviceRoleKey}`, apikey: options.serviceRoleKey };
	const check = async (response: Response, what: string) => {
		if (!response.ok) throw new Error(`Supabase Storage ${what} failed: HTTP ${response.status} ${await response.text()}`);
	};
	return {
		kind: 'supabase',
		async put(key, data, contentType) {
			assertSafeKey(key);
			const response = await doFetch(`${base}/${key}`, {
				method: 'POST',
				headers: { ...headers, 'content-type': contentType, 'x-upsert': 'true', 'cache-control': 'max-age=31536000' },
				body: new Uint8Array(data)
			});
			await check(response, `upload of ${key}`);
		},
		async get(key) {
			assertSafeKey(key);
			const response = await doFetch(`${base}/${key}`, { headers });
			if (response.status === 404 || response.status === 400) return null;
			await check(response, `download of ${key}`);
			return {
				data: Buffer.from(await response.arrayBuffer()),
				contentType: response.headers.get('content-type') ?? 'application/octet-stream'
			};
		},
		async delete(keys) {
			if (keys.length === 0) return;
			keys.forEach(assertSafeKey);
			const response = await doFetch(base, {
				method: 'DELETE',
				headers: { ...headers, 'content-type': 'application/json' },
				body: JSON.stringify({ prefixes: keys })
			});
			await check(response, 'delete');
		},
		async check() {
			// No probe: the store is across the network, so a failure at start is as likely a passing
			// outage as a wrong key or bucket, and would wrongly keep the worker off until a restart.
			// A real problem shows in the first job's error (and the job is retried).
		}
	};
}
