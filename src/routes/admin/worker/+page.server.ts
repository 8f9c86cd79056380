import { error, fail } from '@sveltejs/kit';
import { listExports } from '$lib/server/admin/export';
import {
	cancelAllPending,
	ConfirmationError,
	lastRunByTrigger,
	listJobTypes,
	listWorkerRuns,
	pauseType,
	previewCancelAll,
	previewPurge,
	purgeFinished,
	resumeType,
	runBudget,
	runWorkerNow
} from '$lib/server/admin/worker';
import { NotFoundError, ValidationError } from '$lib/server/errors';
import { requireUser } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url }) => {
	const { sql, handlers, config, worker } = locals.services;
	const trigger = url.searchParams.get('trigger') || null;
	const runs = await listWorkerRuns(sql, {
		trigger,
		before: url.searchParams.get('before'),
		after: url.searchParams.get('after')
	}).catch((err) => {
		if (err instanceof ValidationError) error(400, err.message);
		throw err;
	});
	// Both lists are small and independent: one round trip each, side by side.
	const [types, lastRuns] = await Promise.all([listJobTypes(sql, Object.keys(handlers)), lastRunByTrigger(sql)]);
	return {
		...runs,
		trigger,
		now: new Date(),
		types,
		lastRuns,
		// What the "set up the cron" panel shows: this deployment's endpoint, never the secret itself.
		cron: {
			endpoint: `${config.publicBaseUrl ?? url.origin}/api/worker`,
			secretConfigured: config.cronSecret !== null,
			budgetSeconds: config.worker.budgetSeconds,
			inProcessWorker: worker !== null
		},
		exports: listExports(),
		budget: runBudget(config)
	};
};

/** Service errors an operator can act on become a form failure for that action; the rest are 500s. */
function failure(action: string, err: unknown) {
	if (err instanceof ValidationError) return fail(400, { action, error: err.message, field: err.field });
	if (err instanceof NotFoundError) return fail(404, { action, error: err.message, field: null });
	throw err;
}

export const actions: Actions = {
	run: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		try {
			const run = await runWorkerNow(locals.services, actor, form.get('budget_seconds'));
			return { action: 'run', run };
		} catch (err) {
			return failure('run', err);
		}
	},

	pause: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		try {
			const changed = await pauseType(locals.services.sql, actor, form.get('job_type'), form.get('reason'));
			const jobType = String(form.get('job_type')).trim();
			return { action: 'pause', message: changed ? `Paused ${jobType}: workers no longer claim it.` : `${jobType} was already paused.` };
		} catch (err) {
			return failure('pause', err);
		}
	},

	resume: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		try {
			const changed = await resumeType(locals.services.sql, actor, form.get('job_type'));
			const jobType = String(form.get('job_type')).trim();
			return { action: 'resume', message: changed ? `Resumed ${jobType}.` : `${jobType} was not paused.` };
		} catch (err) {
			return failure('resume', err);
		}
	},

	/** Step one of "cancel all pending": count, and hand the count and its time back for confirmation. */
	cancelPreview: async ({ request, locals }) => {
		requireUser(locals.user);
		const form = await request.formData();
		const preview = await previewCancelAll(locals.services.sql, form.get('include_processing') === 'on');
		return { action: 'cancelPreview', cancelPreview: preview };
	},

	cancel: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		try {
			const cancelled = await cancelAllPending(locals.services.sql, actor, {
				asOf: form.get('as_of'),
				includeProcessing: form.get('include_processing') === 'on',
				confirmedCount: form.get('confirm_count')
			});
			return { action: 'cancel', cancelled, message: `Cancelled ${cancelled} job${cancelled === 1 ? '' : 's'}.` };
		} catch (err) {
			// More jobs match than were confirmed: show the new count for a fresh confirmation.
			if (err instanceof ConfirmationError) {
				const cancelPreview = await previewCancelAll(locals.services.sql, form.get('include_processing') === 'on');
				return fail(409, { action: 'cancel', error: err.message, field: null, cancelPreview });
			}
			return failure('cancel', err);
		}
	},

	/** Step one of the purge: how many finished jobs are older than N days. */
	purgePreview: async ({ request, locals }) => {
		requireUser(locals.user);
		const form = await request.formData();
		try {
			return { action: 'purgePreview', purgePreview: await previewPurge(locals.services.sql, form.get('days')) };
		} catch (err) {
			return failure('purgePreview', err);
		}
	},

	purge: async ({ request, locals }) => {
		const actor = requireUser(locals.user);
		const form = await request.formData();
		try {
			const deleted = await purgeFinished(locals.services.sql, actor, form.get('days'), form.get('confirm_count'));
			return { action: 'purge', deleted, message: `Deleted ${deleted} finished job${deleted === 1 ? '' : 's'}.` };
		} catch (err) {
			return failure('purge', err);
		}
	}
};
