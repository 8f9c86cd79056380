// A local HTTP server speaking the part of Supabase Storage's REST API that Picture uses:
// upload (POST, x-upsert), download (GET) and bulk delete (DELETE with { prefixes }).
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';

export interface FakeStorage {
	url: string;
	serviceRoleKey: string;
	objects: Map<string, { data: Buffer; contentType: string }>;
	close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
	const chunks: Buffer[] = [];
	for await (const chunk of req) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks);
}

export async function startFakeSupabaseStorage(serviceRoleKey = 'service-role-test-key'): Promise<FakeStorage> {
	const objects = new Map<string, { data: Buffer; contentType: string }>();
	const server = createServer(async (req, res) => {
		const send = (status: number, value: unknown) => {
			res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
		};
		if (req.headers.authorization !== `Bearer ${serviceRoleKey}` || req.headers.apikey !== serviceRoleKey) {
			return send(403, { statusCode: '403', error: 'Unauthorized', message: 'invalid signature' });
		}
		const match = /^\/storage\/v1\/object\/([^/]+)(?:\/(.+))?$/.exec(new URL(req.url!, 'http://x').pathname);
		if (!match) return send(404, { error: 'not found' });
		const [, bucket, key] = match;
		if (req.method === 'POST' && key) {
			objects.set(`${bucket}/${key}`, { data: await body(req), contentType: String(req.headers['content-type']) });
			return send(200, { Key: `${bucket}/${key}` });
		}
		if (req.method === 'GET' && key) {
			const object = objects.get(`${bucket}/${key}`);
			if (!object) return send(400, { statusCode: '404', error: 'not_found', message: 'Object not found' });
			res.writeHead(200, { 'content-type': object.contentType }).end(object.data);
			return;
		}
		if (req.method === 'DELETE' && !key) {
			const { prefixes } = JSON.parse((await body(req)).toString()) as { prefixes: string[] };
			const removed = prefixes.filter((p) => objects.delete(`${bucket}/${p}`));
			return send(200, removed.map((name) => ({ name })));
		}
		send(405, { error: 'method not allowed' });
	});
	server.listen(0, '127.0.0.1');
	await once(server, 'listening');
	const { port } = server.address() as { port: number };
	return {
		url: `http://127.0.0.1:${port}`,
		serviceRoleKey,
		objects,
		close: () => new Promise((resolve) => server.close(() => resolve()))
	};
}
