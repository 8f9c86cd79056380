import { consoleReader } from '$lib/server/console/access';
import { COST_DAYS, readCosts } from '$lib/server/console/costs';
import { load as pageLoad } from '$lib/server/http';
import { readFairness, unfairAfterSeconds } from '$lib/server/monitoring/fairness';
import type { PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals }) => {
	const access = consoleReader(locals.user);
	const { sql, config } = locals.services;
	const [costs, fairness] = await Promise.all([readCosts(access, sql), readFairness(sql)]);
	return {
		costs,
		days: COST_DAYS,
		fairness,
		unfairAfterSeconds: unfairAfterSeconds(fairness, config.alerts),
		unfairFactor: config.alerts.unfairWaitFactor
	};
}) satisfies PageServerLoad;
