// Applies a verified Replicate webhook delivery: at most once per delivery id. Progress is recorded
// here; for a finished prediction the generation's job is woken so the worker (which downloads and
// stores the output) finishes it now instead of at its next scheduled check.
import type { Sql } from '../db/client';
import { wakeJob } from '../queue';
import { parseProgress } from '../providers/replicate';

export interface PredictionUpdate {
	id?: unknown;
	status?: unknown;
	logs?: unknown;
}

export type WebhookOutcome = 'applied' | 'duplicate' | 'unknown-prediction';

export async function applyReplicateWebhook(sql: Sql, deliveryId: string, prediction: PredictionUpdate): Promise<WebhookOutcome> {
	if (typeof prediction.id !== 'string') return 'unknown-prediction';
	const predictionId = prediction.id;
	return sql.begin(async (tx) => {
		const fresh = await tx`insert into public.webhook_deliveries (id, source) values (${deliveryId}, 'replicate')
			on conflict (id) do nothing returning id`;
		if (fresh.length === 0) return 'duplicate';
		const [generation] = await tx<{ id: string; job_id: string | null }[]>`
			select id, job_id from public.image_generations where prediction_id = ${predictionId}`;
		if (!generation) return 'unknown-prediction';

		const progress = parseProgress(typeof prediction.logs === 'string' ? prediction.logs : null);
		if (progress !== null) {
			await tx`update public.image_generations set progress = greatest(progress, ${Math.min(progress, 99)})
				where id = ${generation.id} and status = 'processing' and progress < ${Math.min(progress, 99)}`;
		}
		if (['succeeded', 'failed', 'canceled'].includes(String(prediction.status)) && generation.job_id) {
			await wakeJob(tx, generation.job_id);
		}
		return 'applied';
	}) as Promise<WebhookOutcome>;
}
