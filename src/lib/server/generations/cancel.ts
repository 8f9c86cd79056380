import type { AppUser } from '../auth/user';
import type { Sql } from '../db/client';
import { NotFoundError } from '../errors';
import type { ImageProvider } from '../providers/types';
import { isUuid } from '../../uuid';
import type { GenerationRow } from './types';

/**
 * Cancels the user's queued or running generation and its job in one statement (cancel_generation,
 * 0016): a pending job never runs; a running one finds its claim gone within a second and stops. A
 * remote prediction is cancelled too. Returns the generation as it now stands; finished ones are
 * returned unchanged. Someone else's generation is indistinguishable from none.
 */
export async function cancelGeneration(
	sql: Sql,
	user: AppUser,
	id: string,
	providerFor: (modelId: string) => Promise<ImageProvider | null>
): Promise<GenerationRow> {
	if (!isUuid(id)) throw new NotFoundError('No such generation');
	const [row] = await sql<GenerationRow[]>`
		select * from public.cancel_generation(${id}, ${user.id})`;
	if (!row) throw new NotFoundError('No such generation');
	if (row.status === 'cancelled' && row.prediction_id) {
		const provider = await providerFor(row.model_id);
		await provider?.cancel(row.prediction_id).catch(() => {});
	}
	return row;
}
