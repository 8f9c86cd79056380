import { error } from '@sveltejs/kit';
import { isUuid } from '$lib/server/generations/read';
import { requireUser } from '$lib/server/http';
import type { GenerationRow } from '$lib/server/generations/types';
import type { RequestHandler } from './$types';

/** The stored image (or ?size=thumb), for its owner and admins only. It never changes once made. */
export const GET: RequestHandler = async ({ params, url, locals, request }) => {
	const user = requireUser(locals.user);
	if (!isUuid(params.id)) error(404, 'No such image');
	const { sql, storage } = locals.services;
	const [row] = await sql<Pick<GenerationRow, 'user_id' | 'image_path' | 'thumbnail_path' | 'status'>[]>`
		select user_id, image_path, thumbnail_path, status from public.image_generations where id = ${params.id}`;
	if (!row || (row.user_id !== user.id && !user.isAdmin) || row.status !== 'completed') error(404, 'No such image');
	const thumb = url.searchParams.get('size') === 'thumb';
	const key = thumb ? row.thumbnail_path : row.image_path;
	if (!key) error(404, 'No such image');
	const etag = `"${params.id}${thumb ? '-thumb' : ''}"`;
	const headers = {
		etag,
		'cache-control': 'private, max-age=31536000, immutable',
		vary: 'Cookie, Authorization'
	};
	if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
	const object = await storage.get(key);
	if (!object) error(404, 'The image file is missing from storage');
	const download = url.searchParams.get('download') !== null;
	const extension = key.split('.').pop();
	return new Response(new Uint8Array(object.data), {
		headers: {
			...headers,
			'content-type': object.contentType,
			'content-length': String(object.data.length),
			...(download ? { 'content-disposition': `attachment; filename="picture-${params.id}.${extension}"` } : {})
		}
	});
};
