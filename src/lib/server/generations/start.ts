import { randomInt } from 'node:crypto';
import { checkSize, SEED_MAX, type GenerationRequest } from '../../schemas';
import type { Queryable } from '../db/client';
import { BlockedError, RateLimitError, ValidationError } from '../errors';
import type { JobWaker } from '../queue/wake';
import { getModel, modelView, type Availability } from './models';
import type { UserLimits } from './types';

export interface StartedGeneration {
	generation_id: string;
	job_id: string;
	status: string;
	/** False when an earlier request with the same idempotency key made it. */
	created: boolean;
}

type StartResult = { outcome: string; generation_id: string; job_id: string; status: string; limits: UserLimits };

/**
 * One round trip: start_generation checks the model (enabled, runnable here, the size within its
 * rules) and the limits, creates the generation and enqueues its job in one transaction. Throws
 * ValidationError or RateLimitError, having written nothing. With a waker, the job is enqueued
 * without a notification inside the transaction and the waker announces it after the commit.
 */
export async function startGeneration(
	sql: Queryable,
	userId: string,
	request: GenerationRequest,
	availability: Availability,
	waker: JobWaker | null = null
): Promise<StartedGeneration> {
	const seed = request.seed ?? randomInt(0, SEED_MAX);
	const providers = availability.replicateConfigured ? ['local', 'replicate'] : ['local'];
	let result: StartResult;
	try {
		[{ result }] = (await sql`
			select public.start_generation(${userId}, ${request.prompt}, ${request.model_id}, ${request.width}, ${request.height},
				${seed}, ${request.negative_prompt}, ${request.idempotency_key}, '{}'::jsonb, ${waker !== null}, ${providers}::text[]) as result`) as unknown as [
			{ result: StartResult }
		];
	} catch (error) {
		// The function refuses a model or size it cannot start with (22023; 22003 for a size past int);
		// say why in the user's words, reading the model only on this path.
		if ((error as { code?: string }).code?.startsWith('22')) await explainRefusal(sql, request, availability);
		throw error;
	}
	if (result.outcome === 'rate_limited') throw result.limits.blocked ? new BlockedError() : new RateLimitError(result.limits);
	if (result.outcome === 'created') waker?.wake();
	return {
		generation_id: result.generation_id,
		job_id: result.job_id,
		status: result.status,
		created: result.outcome === 'created'
	};
}

/** Throws the ValidationError that names what is wrong with the request's model or size, if anything is. */
async function explainRefusal(sql: Queryable, request: GenerationRequest, availability: Availability): Promise<void> {
	const row = await getModel(sql, request.model_id);
	if (!row) throw new ValidationError('model_id', `There is no model called "${request.model_id}"`);
	const model = modelView(row, availability);
	if (!model.available) {
		throw new ValidationError('model_id', `${model.display_name} is not available: ${model.unavailable_reason}`);
	}
	const sizeError = checkSize(request.width, request.height, model);
	if (sizeError) throw new ValidationError(sizeError.field, sizeError.error);
}

export async function getUserLimits(sql: Queryable, userId: string): Promise<UserLimits> {
	const [row] = await sql<{ limits: UserLimits }[]>`select public.get_user_limits(${userId}) as limits`;
	return row!.limits;
}
