import { endpoint, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** The stored image (or ?size=thumb), for its owner and the console only. It never changes once made. */
export const GET = endpoint(async ({ params, url, locals, request }) => {
	const user = requireUser(locals.user);
	const thumb = url.searchParams.get('size') === 'thumb';
	const image = await locals.services.generations.image(user, params.id, thumb ? 'thumb' : 'full');
	const etag = `"${params.id}${thumb ? '-thumb' : ''}"`;
	const headers = {
		etag,
		'cache-control': 'private, max-age=31536000, immutable',
		vary: 'Cookie, Authorization'
	};
	if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
	const object = await image.load();
	const download = url.searchParams.get('download') !== null;
	const extension = image.key.split('.').pop();
	return new Response(new Uint8Array(object.data), {
		headers: {
			...headers,
			'content-type': object.contentType,
			'content-length': String(object.data.length),
			...(download ? { 'content-disposition': `attachment; filename="picture-${params.id}.${extension}"` } : {})
		}
	});
}) satisfies RequestHandler;
