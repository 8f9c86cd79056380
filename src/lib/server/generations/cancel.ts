import type { Sql } from '../db/client';
import type { AppUser } from '../auth/user';
import { NotFoundError } from '../errors';
import { cancelJob } from '../queue';
import type { ImageProvider } from '../providers/types';
import { getGeneration } from './read';
import type { GenerationRow } from './types';

/**
 * Cancels a user's queued or running generation: its job is cancelled (a pending job never runs; a
 * running handler is told at its next heartbeat) and a remote prediction is cancelled too.
 * Returns the generation as it now stands; finished generations are returned unchanged.
 */
export async function cancelGeneration(
	sql: Sql,
	user: AppUser,
	id: string,
	providerFor: (modelId: string) => Promise<ImageProvider | null>
): Promise<GenerationRow> {
	const visible = await getGeneration(sql, user, id);
	if (!visible) throw new NotFoundError('No such generation');
	const [row] = await sql<GenerationRow[]>`
		update public.image_generations
		set status = 'cancelled', completed_at = now(), error_message = null
		where id = ${id} and status in ('queued', 'processing')
		returning *`;
	if (!row) return visible;
	if (row.job_id) await cancelJob(sql, row.job_id, 'cancelled by the user');
	if (row.prediction_id) {
		const provider = await providerFor(row.model_id);
		await provider?.cancel(row.prediction_id).catch(() => {});
	}
	return row;
}
