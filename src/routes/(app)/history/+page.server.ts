import type { Generation, GroupStatus } from '$lib/types';
import { load as pageLoad, requireUser } from '$lib/server/http';
import type { PageServerLoad } from './$types';

const PAGE_SIZE = 24;

/** One page of the user's generations, newest first; ?cursor= pages back (keyset), ?status= filters. */
export const load = pageLoad(async ({ locals, url }) => {
	const user = requireUser(locals.user);
	const status = url.searchParams.get('status') || null;
	const cursor = url.searchParams.get('cursor') || null;
	// A hand-edited cursor or an unknown status is a ValidationError: a 400 page, not a 500.
	const page = await locals.services.generations.list(user, { limit: PAGE_SIZE, cursor, status });
	const items: Generation[] = await locals.services.generations.views(page.items);
	// Groups show as one card: their summaries, for the members on this page.
	const groupIds = [...new Set(items.map((g) => g.group_id).filter((id): id is string => id !== null))];
	const summaries = await locals.services.generations.groups.summaries(user, groupIds);
	const groups: Record<string, { status: GroupStatus; members: number; completed: number }> = {};
	for (const [id, s] of summaries) groups[id] = { status: s.status, members: s.members, completed: s.completed };
	return { items, groups, nextCursor: page.next_cursor, status, paged: cursor !== null };
}) satisfies PageServerLoad;
