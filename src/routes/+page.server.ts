import { queueSummary } from '$lib/server/queue/summary';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals }) => {
	const { services } = locals;
	return {
		queue: services.migrationError ? null : await queueSummary(services.sql),
		worker: services.worker ? 'in-process' : services.config.cronSecret ? 'cron' : 'none'
	};
};
