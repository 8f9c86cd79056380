import { error } from '@sveltejs/kit';
import { consoleActor, consoleReader } from '$lib/server/console/access';
import { changeJob, type BulkOp } from '$lib/server/console/job-actions';
import { getJob } from '$lib/server/console/jobs';
import { NotFoundError, ValidationError } from '$lib/server/errors';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad, RequestEvent } from './$types';

// The generation page is its owner's (RLS), so the job page links there only for the owner.
export const load = pageLoad(async ({ params, locals }) => {
	const access = consoleReader(locals.user);
	try {
		const now = new Date();
		return { ...(await getJob(access, locals.services.sql, params.id, now)), viewerId: locals.user?.id ?? null, now };
	} catch (err) {
		if (err instanceof ValidationError || err instanceof NotFoundError) error(404, `No job ${params.id}`);
		throw err;
	}
}) satisfies PageServerLoad;

/** The job comes from the form's id (the page's own, unless a test or script says otherwise). */
async function change(op: BulkOp, { request, locals, params }: RequestEvent) {
	const access = consoleActor(locals.user);
	const form = await request.formData();
	try {
		await changeJob(access, locals.services.sql, op, form.get('id') ?? params.id, {
			includeOwnerCancelled: form.get('include_owner_cancelled') === 'on'
		});
		return { success: op === 'retry' ? 'The job is pending again with a fresh set of attempts.' : 'The job is cancelled.' };
	} catch (err) {
		return actionProblem(err, {});
	}
}

export const actions = formActions({
	retry: (event) => change('retry', event),
	cancel: (event) => change('cancel', event)
} satisfies Actions);
