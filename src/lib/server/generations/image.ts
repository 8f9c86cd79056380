// A generation's stored image for whoever may see it: its owner, or someone the console admits
// (the console shows thumbnails). Anyone else gets the same answer as for no image at all.
import type { AppUser } from '../auth/user';
import type { Queryable } from '../db/client';
import { NotFoundError } from '../errors';
import type { ImageStorage } from '../storage';
import { isUuid } from '../../uuid';
import type { GenerationRow } from './types';

type StoredObject = NonNullable<Awaited<ReturnType<ImageStorage['get']>>>;

export async function readGenerationImage(
	sql: Queryable,
	storage: ImageStorage,
	viewer: AppUser,
	id: string,
	size: 'full' | 'thumb'
): Promise<{ key: string; load(): Promise<StoredObject> }> {
	if (!isUuid(id)) throw new NotFoundError('No such image');
	const [row] = await sql<Pick<GenerationRow, 'user_id' | 'image_path' | 'thumbnail_path' | 'status'>[]>`
		select user_id, image_path, thumbnail_path, status from public.image_generations where id = ${id}`;
	const mayView = row && (row.user_id === viewer.id || viewer.isAdmin || viewer.isOperator);
	if (!row || !mayView || row.status !== 'completed') throw new NotFoundError('No such image');
	const key = size === 'thumb' ? row.thumbnail_path : row.image_path;
	if (!key) throw new NotFoundError('No such image');
	return {
		key,
		async load() {
			const object = await storage.get(key);
			if (!object) throw new NotFoundError('The image file is missing from storage');
			return object;
		}
	};
}
