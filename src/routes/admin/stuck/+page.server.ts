import { error } from '@sveltejs/kit';
import { actionFailure } from '$lib/server/admin/jobs';
import { ValidationError } from '$lib/server/errors';
import { listStuck, parseSelectedIds, reaperActivity, resetStuck } from '$lib/server/admin/stuck';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals }) => {
	const { sql } = locals.services;
	const [stuck, reaper] = await Promise.all([listStuck(sql), reaperActivity(sql)]);
	return { ...stuck, reaper, now: new Date() };
};

export const actions: Actions = {
	/** The jobs ticked in the table (checkboxes named id); only those still stuck are reset. */
	reset: async ({ request, locals }) => {
		const actor = locals.user;
		if (!actor?.isAdmin) error(403, 'This area is for administrators');
		const form = await request.formData();
		try {
			const affected = await resetStuck(locals.services.sql, actor, parseSelectedIds(form.getAll('id')));
			return { done: { affected } };
		} catch (err) {
			return actionFailure(err);
		}
	},
	/** Every stuck job, after a confirmation that says how many there are. */
	resetAll: async ({ request, locals }) => {
		const actor = locals.user;
		if (!actor?.isAdmin) error(403, 'This area is for administrators');
		const form = await request.formData();
		const { total } = await listStuck(locals.services.sql);
		if (form.get('confirm') !== '1') return { confirm: { count: total } };
		// The count the operator confirmed, recorded in the audit log: a whole number or nothing at all.
		const raw = form.get('count');
		const count = typeof raw === 'string' && /^\d{1,9}$/.test(raw.trim()) ? Number(raw) : null;
		if (raw !== null && raw !== '' && count === null) {
			return actionFailure(new ValidationError('count', 'The confirmation is incomplete; ask again'));
		}
		const affected = await resetStuck(locals.services.sql, actor, null, count ?? total);
		return { done: { affected } };
	}
};
