import { randomInt } from 'node:crypto';
import { checkSize, SEED_MAX, type GenerationRequest } from '../../schemas';
import type { Queryable } from '../db/client';
import { BlockedError, RateLimitError, ValidationError } from '../errors';
import { getModel, modelView, type Availability } from './models';
import type { UserLimits } from './types';

export interface StartedGeneration {
	generation_id: string;
	job_id: string;
	status: string;
	/** False when an earlier request with the same idempotency key made it. */
	created: boolean;
}

/**
 * Validates the request against its model, then lets start_generation check the limits, create the
 * generation and enqueue its job in one transaction. Throws ValidationError or RateLimitError,
 * having written nothing.
 */
export async function startGeneration(
	sql: Queryable,
	userId: string,
	request: GenerationRequest,
	availability: Availability
): Promise<StartedGeneration> {
	const row = await getModel(sql, request.model_id);
	if (!row) throw new ValidationError('model_id', `There is no model called "${request.model_id}"`);
	const model = modelView(row, availability);
	if (!model.available) {
		throw new ValidationError('model_id', `${model.display_name} is not available: ${model.unavailable_reason}`);
	}
	const sizeError = checkSize(request.width, request.height, model);
	if (sizeError) throw new ValidationError(sizeError.field, sizeError.error);

	const seed = request.seed ?? randomInt(0, SEED_MAX);
	const [{ result }] = (await sql`
		select public.start_generation(${userId}, ${request.prompt}, ${model.id}, ${request.width}, ${request.height},
			${seed}, ${request.negative_prompt}, ${request.idempotency_key}) as result`) as unknown as [
		{ result: { outcome: string; generation_id: string; job_id: string; status: string; limits: UserLimits } }
	];
	if (result.outcome === 'rate_limited') throw result.limits.blocked ? new BlockedError() : new RateLimitError(result.limits);
	return {
		generation_id: result.generation_id,
		job_id: result.job_id,
		status: result.status,
		created: result.outcome === 'created'
	};
}

export async function getUserLimits(sql: Queryable, userId: string): Promise<UserLimits> {
	const [row] = await sql<{ limits: UserLimits }[]>`select public.get_user_limits(${userId}) as limits`;
	return row!.limits;
}
