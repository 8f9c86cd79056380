import { consoleActor, consoleReader } from '$lib/server/console/access';
import {
	countBulk,
	countSelection,
	MAX_SELECTION,
	parseSelection,
	runBulk,
	runSelection,
	type BulkConfirmation,
	type BulkDone,
	type BulkOp
} from '$lib/server/console/job-actions';
import { filterQuery, isFiltered, NO_FILTER, parseJobFilter, type JobFilter } from '$lib/server/console/job-filter';
import { listJobs, parseCursor, parseJobSort, type JobPage } from '$lib/server/console/jobs';
import { ValidationError } from '$lib/server/errors';
import { listModels } from '$lib/server/generations/models';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import { JOB_STATUSES } from '$lib/server/queue';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ url, locals }) => {
	const access = consoleReader(locals.user);
	const { sql, handlers } = locals.services;
	const sort = parseJobSort(url.searchParams);
	let filter: JobFilter = NO_FILTER;
	let page: JobPage = { jobs: [], next: null, prev: null };
	let problem: { error: string; field: string } | null = null;
	try {
		filter = parseJobFilter(url.searchParams);
		page = await listJobs(access, sql, filter, sort, parseCursor(url.searchParams.get('cursor'), sort));
	} catch (err) {
		if (!(err instanceof ValidationError)) throw err;
		problem = { error: err.message, field: err.field };
	}
	const models = await listModels(sql, locals.services.generations.availability);
	const query = filterQuery(filter, sort).toString();
	return {
		filter,
		filtered: isFiltered(filter),
		sort,
		page,
		problem,
		query,
		exportHref: `/admin/export/jobs.csv${filterQuery(filter).size ? `?${filterQuery(filter)}` : ''}`,
		statuses: JOB_STATUSES,
		jobTypes: Object.keys(handlers).sort(),
		models: models.map(({ id, display_name }) => ({ id, display_name })),
		maxSelection: MAX_SELECTION,
		now: new Date()
	};
}) satisfies PageServerLoad;

function parseOp(value: unknown): BulkOp {
	if (value === 'retry' || value === 'cancel') return value;
	throw new ValidationError('op', 'Choose retry or cancel');
}

const includeOwners = (form: FormData) => ({ includeOwnerCancelled: form.get('include_owner_cancelled') === 'on' });

function confirmedCount(form: FormData): number {
	const count = Number(form.get('count'));
	if (!Number.isSafeInteger(count) || count < 0) throw new ValidationError('count', 'The confirmation is incomplete; ask again');
	return count;
}

export const actions = formActions({
	/** Every job matching the filter. First submit: how many (and, for a retry, of which kind). Second (confirm=1): change them. */
	bulk: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const op = parseOp(form.get('op'));
			const filter = parseJobFilter(form);
			const query = filterQuery(filter).toString();
			const options = includeOwners(form);
			if (form.get('confirm') !== '1') {
				return { confirm: { scope: 'filter' as const, op, query, ids: [] as string[], ...(await countBulk(access, locals.services.sql, filter, op, options)) } satisfies BulkConfirmation };
			}
			const count = confirmedCount(form);
			const affected = await runBulk(access, locals.services.sql, filter, op, { count, asOf: String(form.get('as_of') ?? '') }, options);
			return { done: { scope: 'filter' as const, op, affected, skipped: 0, query } satisfies BulkDone };
		} catch (err) {
			return actionProblem(err, {});
		}
	},

	/** The ticked rows (checkboxes named id): the same two steps, on exactly those jobs. Works without JavaScript. */
	selection: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const op = parseOp(form.get('op'));
			const ids = parseSelection(form.getAll('id'));
			const options = includeOwners(form);
			if (form.get('confirm') !== '1') {
				return { confirm: { scope: 'selection' as const, op, query: '', ids, asOf: '', ...(await countSelection(access, locals.services.sql, op, ids, options)) } satisfies BulkConfirmation };
			}
			confirmedCount(form);
			const { affected, skipped } = await runSelection(access, locals.services.sql, op, ids, options);
			return { done: { scope: 'selection' as const, op, affected, skipped, query: '' } satisfies BulkDone };
		} catch (err) {
			return actionProblem(err, {});
		}
	}
} satisfies Actions);
