import { consoleActor, consoleReader } from '$lib/server/console/access';
import {
	countBulk,
	filterQuery,
	listJobs,
	parseCursor,
	parseJobFilter,
	parseJobSort,
	runBulk,
	type BulkOp,
	type JobFilter,
	type JobPage
} from '$lib/server/console/jobs';
import { ValidationError } from '$lib/server/errors';
import { listModels } from '$lib/server/generations/models';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import { JOB_STATUSES } from '$lib/server/queue';
import type { Actions, PageServerLoad } from './$types';

const NO_FILTER: JobFilter = { status: null, type: null, user: null, model: null, from: null, to: null, q: null };

export const load = pageLoad(async ({ url, locals }) => {
	const access = consoleReader(locals.user);
	const { sql, handlers } = locals.services;
	const sort = parseJobSort(url.searchParams);
	let filter = NO_FILTER;
	let page: JobPage = { jobs: [], next: null, prev: null };
	let problem: { error: string; field: string } | null = null;
	try {
		filter = parseJobFilter(url.searchParams);
		page = await listJobs(access, sql, filter, sort, parseCursor(url.searchParams.get('cursor'), sort));
	} catch (err) {
		if (!(err instanceof ValidationError)) throw err;
		problem = { error: err.message, field: err.field };
	}
	const models = await listModels(sql, { replicateConfigured: true });
	return {
		filter,
		sort,
		page,
		problem,
		query: filterQuery(filter, sort).toString(),
		statuses: JOB_STATUSES,
		jobTypes: Object.keys(handlers).sort(),
		models: models.map(({ id, display_name }) => ({ id, display_name })),
		now: new Date()
	};
}) satisfies PageServerLoad;

function parseOp(value: unknown): BulkOp {
	if (value === 'retry' || value === 'cancel') return value;
	throw new ValidationError('op', 'Choose retry or cancel');
}

export const actions = formActions({
	/** First submit: how many jobs would change. Second (confirm=1, same filter): change them. */
	bulk: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const op = parseOp(form.get('op'));
			const filter = parseJobFilter(form);
			const query = filterQuery(filter).toString();
			if (form.get('confirm') !== '1') {
				const { count, asOf } = await countBulk(access, locals.services.sql, filter, op);
				return { confirm: { op, count, asOf, query } };
			}
			const count = Number(form.get('count'));
			if (!Number.isSafeInteger(count) || count < 0) throw new ValidationError('count', 'The confirmation is incomplete; ask again');
			const affected = await runBulk(access, locals.services.sql, filter, op, { count, asOf: String(form.get('as_of') ?? '') });
			return { done: { op, affected, query } };
		} catch (err) {
			return actionProblem(err, {});
		}
	}
} satisfies Actions);
