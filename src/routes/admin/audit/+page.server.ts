import { consoleReader } from '$lib/server/console/access';
import { listAudit } from '$lib/server/console/audit';
import { load as pageLoad } from '$lib/server/http';
import type { PageServerLoad } from './$types';

const PAGE = 50;

/** Newest first; ?before=<id> continues after the last entry shown (keyset, no OFFSET). */
export const load = pageLoad(async ({ url, locals }) => {
	const access = consoleReader(locals.user);
	const raw = url.searchParams.get('before');
	const before = raw && /^\d{1,18}$/.test(raw) ? Number(raw) : null;
	const rows = await listAudit(access, locals.services.sql, { before, limit: PAGE + 1 });
	const entries = rows.slice(0, PAGE).map((entry) => ({ ...entry, id: Number(entry.id) }));
	return {
		entries,
		older: rows.length > PAGE ? `/admin/audit?before=${entries.at(-1)!.id}` : null,
		newest: before ? '/admin/audit' : null,
		now: new Date()
	};
}) satisfies PageServerLoad;
