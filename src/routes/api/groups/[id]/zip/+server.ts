import { endpoint, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** Every finished picture of the group in one ZIP (stored, not deflated: the images are compressed already). */
export const GET = endpoint(async ({ params, locals }) => {
	const user = requireUser(locals.user);
	const archive = await locals.services.generations.groups.archive(user, params.id);
	return new Response(archive.stream, {
		headers: {
			'content-type': 'application/zip',
			'content-disposition': `attachment; filename="${archive.filename}"`,
			'cache-control': 'private, no-store'
		}
	});
}) satisfies RequestHandler;
