import { error } from '@sveltejs/kit';
import { actionFailure, changeJob, getJob, type BulkOp } from '$lib/server/admin/jobs';
import { NotFoundError, ValidationError } from '$lib/server/errors';
import type { Actions, PageServerLoad, RequestEvent } from './$types';

// The generation page is its owner's (RLS), so the job page links there only for the owner.
export const load: PageServerLoad = async ({ params, locals }) => {
	try {
		return { ...(await getJob(locals.services.sql, params.id)), viewerId: locals.user?.id ?? null, now: new Date() };
	} catch (err) {
		if (err instanceof ValidationError || err instanceof NotFoundError) error(404, `No job ${params.id}`);
		throw err;
	}
};

/** The job comes from the form's id (the page's own, unless a test or script says otherwise). */
async function change(op: BulkOp, { request, locals, params }: RequestEvent) {
	const actor = locals.user;
	if (!actor?.isAdmin) error(403, 'This area is for administrators');
	const form = await request.formData();
	try {
		await changeJob(locals.services.sql, actor, op, form.get('id') ?? params.id);
		return { success: op === 'retry' ? 'The job is pending again with a fresh set of attempts.' : 'The job is cancelled.' };
	} catch (err) {
		return actionFailure(err);
	}
}

export const actions: Actions = {
	retry: (event) => change('retry', event),
	cancel: (event) => change('cancel', event)
};
