import { consoleActor, consoleReader } from '$lib/server/console/access';
import { listStuck, parseSelectedIds, reaperActivity, resetStuck } from '$lib/server/console/stuck';
import { ValidationError } from '$lib/server/errors';
import { actionProblem, actions as formActions, load as pageLoad } from '$lib/server/http';
import type { Actions, PageServerLoad } from './$types';

export const load = pageLoad(async ({ locals }) => {
	const access = consoleReader(locals.user);
	const { sql } = locals.services;
	const [stuck, reaper] = await Promise.all([listStuck(access, sql), reaperActivity(access, sql)]);
	return { ...stuck, reaper, now: new Date() };
}) satisfies PageServerLoad;

export const actions = formActions({
	/** The jobs ticked in the table (checkboxes named id); only those still stuck are reset. */
	reset: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		try {
			const affected = await resetStuck(access, locals.services.sql, parseSelectedIds(form.getAll('id')));
			return { done: { affected } };
		} catch (err) {
			return actionProblem(err, {});
		}
	},
	/** Every stuck job, after a confirmation that says how many there are. */
	resetAll: async ({ request, locals }) => {
		const access = consoleActor(locals.user);
		const form = await request.formData();
		const { total } = await listStuck(access, locals.services.sql);
		if (form.get('confirm') !== '1') return { confirm: { count: total } };
		// The count the operator confirmed, recorded in the audit log: a whole number or nothing at all.
		const raw = form.get('count');
		const count = typeof raw === 'string' && /^\d{1,9}$/.test(raw.trim()) ? Number(raw) : null;
		if (raw !== null && raw !== '' && count === null) {
			return actionProblem(new ValidationError('count', 'The confirmation is incomplete; ask again'), {});
		}
		const affected = await resetStuck(access, locals.services.sql, null, count ?? total);
		return { done: { affected } };
	}
} satisfies Actions);
