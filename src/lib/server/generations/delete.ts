// Deleting a generation: the row and its stored image and thumbnail, for its owner only. A running
// generation is cancelled first, so no worker keeps rendering an image nobody will see; if one is
// mid-render anyway, its final update finds no row and it deletes the files it just wrote.
import type { AppUser } from '../auth/user';
import type { Sql } from '../db/client';
import { NotFoundError } from '../errors';
import { providerFor, type Providers } from '../providers';
import type { ImageProvider } from '../providers/types';
import type { ImageStorage } from '../storage';
import { cancelGeneration } from './cancel';
import { getModel } from './models';
import { getGeneration } from './read';

/** The provider that runs a model, for cancelling its remote prediction. */
export function providerForModel(sql: Sql, providers: Providers) {
	return async (modelId: string): Promise<ImageProvider | null> => {
		const model = await getModel(sql, modelId);
		return model ? providerFor(providers, model.provider) : null;
	};
}

export async function deleteGeneration(
	sql: Sql,
	user: AppUser,
	id: string,
	deps: { storage: ImageStorage; providers: Providers }
): Promise<void> {
	// Read as the user (row level security), and owner only: an administrator's view is not ownership.
	const visible = await getGeneration(sql, user, id);
	if (!visible || visible.user_id !== user.id) throw new NotFoundError('No such generation');
	if (visible.status === 'queued' || visible.status === 'processing') {
		await cancelGeneration(sql, user, id, providerForModel(sql, deps.providers));
	}
	const deleted = await sql<{ image_path: string | null; thumbnail_path: string | null }[]>`
		delete from public.image_generations where id = ${id} and user_id = ${user.id}
		returning image_path, thumbnail_path`;
	const keys = deleted.flatMap((row) => [row.image_path, row.thumbnail_path]).filter((key): key is string => key !== null);
	if (keys.length) await deps.storage.delete(keys);
}
