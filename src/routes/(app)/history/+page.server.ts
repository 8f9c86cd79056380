import type { Generation } from '$lib/types';
import { toView } from '$lib/server/generations/types';
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
	const items: Generation[] = page.items.map(toView);
	return { items, nextCursor: page.next_cursor, status, paged: cursor !== null };
}) satisfies PageServerLoad;
