import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '$lib/server/config';
import { createStorage, type ImageStorage } from '$lib/server/storage';
import { startFakeSupabaseStorage, type FakeStorage } from '../../support/fake-supabase-storage';

const key = '11111111-1111-4111-8111-111111111111/22222222-2222-4222-8222-222222222222.png';
const thumb = key.replace('.png', '.thumb.webp');

let dir: string;
let fake: FakeStorage;
beforeAll(async () => {
	dir = await mkdtemp(path.join(tmpdir(), 'picture-storage-'));
	fake = await startFakeSupabaseStorage();
});
afterAll(async () => {
	await rm(dir, { recursive: true, force: true });
	await fake.close();
});

const stores: Array<[string, () => ImageStorage]> = [
	['a local folder', () => createStorage(loadConfig({ DATA_DIR: dir }))],
	[
		'Supabase Storage',
		() => createStorage(loadConfig({ PUBLIC_SUPABASE_URL: fake.url, SUPABASE_SERVICE_ROLE_KEY: fake.serviceRoleKey }))
	]
];

describe.each(stores)('%s', (_name, make) => {
	test('stores, reads back and deletes images', async () => {
		const storage = make();
		await storage.put(key, Buffer.from('png bytes'), 'image/png');
		await storage.put(thumb, Buffer.from('webp bytes'), 'image/webp');
		expect(await storage.get(key)).toEqual({ data: Buffer.from('png bytes'), contentType: 'image/png' });
		expect((await storage.get(thumb))!.contentType).toBe('image/webp');
		await storage.delete([key, thumb]);
		expect(await storage.get(key)).toBeNull();
		expect(await storage.get(thumb)).toBeNull();
	});

	test('refuses keys that could reach outside the store', async () => {
		const storage = make();
		for (const bad of ['../etc/passwd', `${key}/../../x.png`, 'a/b.png', '/abs.png']) {
			await expect(storage.put(bad, Buffer.from('x'), 'image/png')).rejects.toThrow(/unsafe storage key/);
		}
	});
});

test('the Supabase store is used only with both the URL and the service role key', async () => {
	expect(createStorage(loadConfig({ PUBLIC_SUPABASE_URL: fake.url })).kind).toBe('fs');
	const supabase = createStorage(loadConfig({ PUBLIC_SUPABASE_URL: fake.url, SUPABASE_SERVICE_ROLE_KEY: 'wrong' }));
	expect(supabase.kind).toBe('supabase');
	await expect(supabase.put(key, Buffer.from('x'), 'image/png')).rejects.toThrow(/HTTP 403/);
});

test('a local write cleans up the temp files of writers killed before they renamed, and only those of that key', async () => {
	const root = await mkdtemp(path.join(tmpdir(), 'picture-temps-'));
	try {
		const store = createStorage(loadConfig({ DATA_DIR: root, IMAGE_DIR: root }));
		const folder = path.join(root, path.dirname(key));
		await mkdir(folder, { recursive: true });
		const name = path.basename(key);
		await writeFile(path.join(folder, `${name}.4242.tmp`), 'half an image');
		await writeFile(path.join(folder, `${path.basename(thumb)}.4243.tmp`), 'another key');
		await store.put(key, Buffer.from('the image'), 'image/png');
		expect((await readdir(folder)).sort()).toEqual([name, `${path.basename(thumb)}.4243.tmp`].sort());
		expect((await store.get(key))!.data.toString()).toBe('the image');
	} finally {
		await rm(root, { recursive: true, force: true });
	}
});
