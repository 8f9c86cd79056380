import { fail } from '@sveltejs/kit';
import { consoleActor, consoleReader } from '$lib/server/console/access';
import { listExports } from '$lib/server/console/export';
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
	runAllowance,
	runBudget,
	runWorkerNow,
	type CronSetup
} from '$lib/server/console/worker';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals, url }) => {
	const access = consoleReader(locals.user);
	const { sql, handlers, config, worker } = locals.services;
	const trigger = url.searchParams.get('trigger') || null;
	// One rule for "stopped responding", shared with the overview and bounded by its alert's threshold.
	const allowanceSeconds = runAllowance(config);
	const runs = await listWorkerRuns(access, sql, {
		trigger,
		before: url.searchParams.get('before'),
		after: url.searchParams.get('after'),
		allowanceSeconds
	});
	// Both lists are small and independent: one round trip each, side by side.
	const [types, lastRuns] = await Promise.all([
		listJobTypes(access, sql, Object.keys(handlers)),
		lastRunByTrigger(access, sql, allowanceSeconds)
	]);
	return {
		...runs,
		trigger,
		now: new Date(),
		allowanceSeconds,
		types,
		lastRuns,
		// What the "set up the cron" panel shows: this deployment's endpoint, never the secret itself.
		cron: {
			endpoint: `${config.publicBaseUrl ?? url.origin}/api/worker`,
			secretConfigured: config.cronSecret !== null,
			budgetSeconds: config.worker.budgetSeconds,
			inProcessWorker: worker.inProcess !== null
		} satisfies CronSetup,
		exports: listExports(),
		budget: runBudget(config)
	};
}) satisfies PageServerLoad;

/** Service errors an operator can act on become a form failure for that action; the rest are 500s. */
const failure = (action: string, err: unknown) => actionProblem(err, { action });

export const actions = formActions({
	run: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		// The budget as entered goes back to the form, so it shows what was asked for, not the default.
		const raw = form.get('budget_seconds');
		const budget = typeof raw === 'string' ? raw.trim().slice(0, 20) : '';
		try {
			const run = await runWorkerNow(access, locals.services, raw);
			return { action: 'run', run, budget };
		} catch (err) {
			return actionProblem(err, { action: 'run', budget });
		}
	},

	pause: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const changed = await pauseType(access, locals.services.sql, form.get('job_type'), form.get('reason'));
			const jobType = String(form.get('job_type')).trim();
			return { action: 'pause', message: changed ? `Paused ${jobType}: workers no longer claim it.` : `${jobType} was already paused.` };
		} catch (err) {
			return failure('pause', err);
		}
	},

	resume: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const changed = await resumeType(access, locals.services.sql, form.get('job_type'));
			const jobType = String(form.get('job_type')).trim();
			return { action: 'resume', message: changed ? `Resumed ${jobType}.` : `${jobType} was not paused.` };
		} catch (err) {
			return failure('resume', err);
		}
	},

	/** Step one of "cancel all pending": count, and hand the count and its time back for confirmation. */
	cancelPreview: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const preview = await previewCancelAll(access, locals.services.sql, form.get('include_processing') === 'on');
		return { action: 'cancelPreview', cancelPreview: preview };
	},

	cancel: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const cancelled = await cancelAllPending(access, locals.services.sql, {
				asOf: form.get('as_of'),
				includeProcessing: form.get('include_processing') === 'on',
				confirmedCount: form.get('confirm_count')
			});
			return { action: 'cancel', cancelled, message: `Cancelled ${cancelled} job${cancelled === 1 ? '' : 's'}.` };
		} catch (err) {
			// More jobs match than were confirmed: show the new count for a fresh confirmation.
			if (err instanceof ConfirmationError) {
				const cancelPreview = await previewCancelAll(access, locals.services.sql, form.get('include_processing') === 'on');
				return fail(409, { action: 'cancel', error: err.message, field: null, cancelPreview });
			}
			return failure('cancel', err);
		}
	},

	/** Step one of the purge: how many finished jobs are older than N days. */
	purgePreview: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			return { action: 'purgePreview', purgePreview: await previewPurge(access, locals.services.sql, form.get('days')) };
		} catch (err) {
			return failure('purgePreview', err);
		}
	},

	purge: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const deleted = await purgeFinished(access, locals.services.sql, form.get('days'), form.get('confirm_count'));
			return { action: 'purge', deleted, message: `Deleted ${deleted} finished job${deleted === 1 ? '' : 's'}.` };
		} catch (err) {
			return failure('purge', err);
		}
	}
} satisfies Actions);
