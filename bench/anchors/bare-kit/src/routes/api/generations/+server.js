import { error, json } from '@sveltejs/kit';
import { db } from '$lib/server/db';

/** One transaction: the generation row, its job row, and a NOTIFY for the workers. */
export async function POST({ request }) {
	const body = await request.json();
	if (typeof body.prompt !== 'string' || typeof body.model_id !== 'string') error(400, 'prompt and model_id are required');
	const sql = await db();
	const generation = await sql.begin(async (tx) => {
		const [row] = await tx`
			insert into bare.generations (prompt, model_id, width, height)
			values (${body.prompt}, ${body.model_id}, ${body.width ?? 512}, ${body.height ?? 512})
			returning id, status, created_at`;
		await tx`insert into bare.jobs (generation_id, payload) values (${row.id}, ${sql.json({ generation_id: String(row.id) })})`;
		await tx`select pg_notify('bare_jobs', ${String(row.id)})`;
		return row;
	});
	return json({ id: String(generation.id), status: generation.status, created_at: generation.created_at }, { status: 201 });
}
