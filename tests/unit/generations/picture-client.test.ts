// The client module's event-stream parser, and its subscription against a real local HTTP server
// (node:http, real sockets): resuming with Last-Event-ID after the connection is cut, typed errors,
// retrying a 503, polling, and falling back to polling when a fetch cannot stream.
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { PictureError, SseParser, subscribeToGeneration, type Connection, type Generation, type SubscribeOptions } from '$lib/picture-client';

const view = (status: Generation['status'], event_seq: number, progress = 0) => ({ id: 'g1', status, event_seq, progress }) as Generation;
const frame = (g: Generation) => `id: ${g.event_seq}\nevent: generation\ndata: ${JSON.stringify(g)}\n\n`;

test('the module stands alone: it imports only its own files (no SvelteKit, $lib, $env or node:)', () => {
	const folder = 'src/lib/picture-client';
	const files = readdirSync(folder).filter((f) => f.endsWith('.ts'));
	expect(files).toContain('index.ts');
	for (const file of files) {
		const source = readFileSync(`${folder}/${file}`, 'utf8');
		const specifiers = [...source.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
		for (const specifier of specifiers) expect(specifier, `${file} imports ${specifier}`).toMatch(/^\.\/[\w-]+$/);
	}
});

describe('SseParser', () => {
	test('splits events across any chunk boundary and any line ending; ids persist; comments and retry', () => {
		const text = 'retry: 2000\r\n\r\n: heartbeat\n\nid: 7\r\nevent: generation\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: plain\rdata: two\r\r';
		// Every way of cutting the text in two gives the same events.
		for (let cut = 0; cut <= text.length; cut++) {
			const parser = new SseParser();
			const events = [...parser.feed(text.slice(0, cut)), ...parser.feed(text.slice(cut))];
			expect(events, `cut at ${cut}`).toEqual([
				{ id: '7', event: 'generation', data: '{"a":\n1}' },
				{ id: '7', event: 'message', data: 'plain\ntwo' }
			]);
			expect(parser.retryMs).toBe(2000);
			expect(parser.lastEventId).toBe('7');
		}
	});

	test('an event without a blank line after it is not dispatched', () => {
		const parser = new SseParser();
		expect(parser.feed('id: 1\ndata: x\n')).toEqual([]);
		expect(parser.feed('\n')).toEqual([{ id: '1', event: 'message', data: 'x' }]);
	});
});

type Handler = (request: IncomingMessage, response: ServerResponse, n: number) => void;
let server: Server | null = null;
const seen: IncomingMessage[] = [];

async function serve(handler: Handler): Promise<string> {
	let n = 0;
	server = createServer((request, response) => {
		seen.push(request);
		handler(request, response, n++);
	});
	server.listen(0, '127.0.0.1');
	await once(server, 'listening');
	return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

afterEach(async () => {
	seen.length = 0;
	if (!server) return;
	server.closeAllConnections();
	await new Promise((resolve) => server!.close(resolve));
	server = null;
});

function follow(baseUrl: string, more: SubscribeOptions, options: Record<string, unknown> = {}) {
	const updates: Generation[] = [];
	const states: Connection[] = [];
	const errors: PictureError[] = [];
	const subscription = subscribeToGeneration({ baseUrl, ...options }, 'g1', (g) => updates.push(g), {
		...more,
		onConnection: (s) => states.push(s),
		onError: (e) => errors.push(e)
	});
	return { updates, states, errors, subscription };
}

const streamHead = (response: ServerResponse) => response.writeHead(200, { 'content-type': 'text/event-stream' });

describe('subscribeToGeneration over a fetch stream', () => {
	test('a cut mid-stream reconnects with Last-Event-ID and delivers each state once', async () => {
		const baseUrl = await serve((request, response, n) => {
			streamHead(response);
			if (n === 0) {
				// Half of a third event, then the socket dies.
				response.write('retry: 100\n\n' + frame(view('queued', 1)) + frame(view('processing', 2, 40)) + 'id: 3\nevent: gen');
				setImmediate(() => response.socket?.destroy());
			} else {
				// The server resumes from the id it was sent; state 2 again would be a duplicate.
				response.end(frame(view('processing', 2, 40)) + frame(view('completed', 3, 100)));
			}
		});
		const { updates, states, errors, subscription } = follow(baseUrl, { transport: 'stream' }, { token: 'secret' });
		const final = await subscription.finished;
		expect(final?.status).toBe('completed');
		expect(updates.map((g) => [g.status, g.event_seq])).toEqual([['queued', 1], ['processing', 2], ['completed', 3]]);
		expect(seen).toHaveLength(2);
		expect(seen[0]!.headers['last-event-id']).toBeUndefined();
		expect(seen[1]!.headers['last-event-id']).toBe('2');
		expect(seen.every((r) => r.headers.authorization === 'Bearer secret' && r.url === '/api/generations/g1/events')).toBe(true);
		expect(states).toEqual(['connecting', 'live', 'reconnecting', 'live', 'done']);
		expect(errors).toEqual([]);
	});

	test('a 404 ends it with a typed not_found error and the server message; a 503 is retried', async () => {
		const missing = await serve((_request, response) => {
			response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'No such generation' }));
		});
		const gone = follow(missing, { transport: 'stream' });
		expect(await gone.subscription.finished).toBeNull();
		expect(gone.errors).toHaveLength(1);
		expect(gone.errors[0]).toBeInstanceOf(PictureError);
		expect(gone.errors[0]).toMatchObject({ kind: 'not_found', status: 404, message: 'No such generation' });
		expect(gone.states.at(-1)).toBe('done');
		server!.closeAllConnections();
		await new Promise((resolve) => server!.close(resolve));
		server = null;
		seen.length = 0;

		const flaky = await serve((_request, response, n) => {
			if (n === 0) return response.writeHead(503).end('restarting');
			streamHead(response);
			response.end(frame(view('completed', 4, 100)));
		});
		const retried = follow(flaky, { transport: 'stream' });
		expect((await retried.subscription.finished)?.status).toBe('completed');
		expect(seen).toHaveLength(2);
		expect(retried.errors).toEqual([]);
	});

	test('close() ends an open stream: the server sees the connection go, nothing more is delivered', async () => {
		let closed: Promise<unknown> = Promise.resolve();
		const baseUrl = await serve((_request, response) => {
			streamHead(response);
			response.write(frame(view('processing', 1, 10)));
			closed = once(response, 'close');
		});
		const { updates, states, subscription } = follow(baseUrl, { transport: 'stream' });
		await expect.poll(() => updates.length).toBe(1);
		subscription.close();
		await closed;
		expect(await subscription.finished).toBeNull();
		expect(states).toEqual(['connecting', 'live']);
	});
});

describe('subscribeToGeneration by polling', () => {
	test('polls GET until a final state', async () => {
		const states = [view('queued', 1), view('processing', 2, 50), view('processing', 2, 50), view('completed', 3, 100)];
		const baseUrl = await serve((request, response, n) => {
			response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(states[Math.min(n, 3)]));
		});
		const { updates, subscription } = follow(baseUrl, { transport: 'poll', pollMs: 20 });
		expect((await subscription.finished)?.status).toBe('completed');
		expect(updates.map((g) => g.event_seq)).toEqual([1, 2, 3]); // the repeated state is not delivered twice
		expect(seen.every((r) => r.url === '/api/generations/g1')).toBe(true);
	});

	test('a fetch that cannot stream (no Response.body, as React Native) falls back to polling', async () => {
		const baseUrl = await serve((request, response) => {
			if (request.url!.endsWith('/events')) {
				streamHead(response);
				return response.write(frame(view('queued', 1)));
			}
			response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view('completed', 2, 100)));
		});
		const noStreams: typeof fetch = async (input, init) => {
			const real = await fetch(input, init);
			if (!String(input).endsWith('/events')) return real;
			await real.body?.cancel();
			return new Response(null, { status: real.status, headers: real.headers });
		};
		const { updates, states, subscription } = follow(baseUrl, { pollMs: 20 }, { fetch: noStreams });
		expect((await subscription.finished)?.status).toBe('completed');
		expect(updates.map((g) => g.status)).toEqual(['completed']);
		expect(states).toEqual(['connecting', 'polling', 'done']);
		expect(seen.map((r) => r.url)).toEqual(['/api/generations/g1/events', '/api/generations/g1']);
	});
});

describe('queue places (position events and polls at the same event_seq)', () => {
	const at = (s: number) => new Date(Date.parse('2026-12-02T12:00:00Z') + s * 1000).toISOString();
	const place = (queue_position: number | null, start = 0) =>
		({ queue_position, estimated_start_at: queue_position === null ? null : at(start), estimated_done_at: queue_position === null ? null : at(start + 2) });
	const waiting = (position: number | null, event_seq = 1) => ({ ...view('queued', event_seq), prompt: 'a lake', ...place(position, position ?? 0) }) as Generation;
	const positionFrame = (data: unknown) => `event: position\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
	const places = (updates: Generation[]) => updates.map((g) => [g.status, g.event_seq, g.queue_position, g.estimated_start_at]);

	test('a stream merges each new place into the generation it follows; stray, unchanged, malformed and late ones change nothing', async () => {
		const baseUrl = await serve((_request, response) => {
			streamHead(response);
			response.end(
				frame(waiting(3)) +
					positionFrame({ id: 'g1', ...place(3, 3) }) + // unchanged: not delivered again
					positionFrame({ id: 'g1', ...place(2, 2) }) +
					positionFrame({ id: 'other', ...place(1, 1) }) + // another generation's
					positionFrame('{"id":"g1","queue_position":') + // cut short
					positionFrame({ id: 'g1', queue_position: 0, estimated_start_at: at(0), estimated_done_at: at(2) }) + // no such place
					positionFrame({ id: 'g1', queue_position: 1, estimated_start_at: 'soon', estimated_done_at: at(2) }) + // not a time
					positionFrame({ id: 'g1', ...place(1, 1) }) +
					frame({ ...view('processing', 2, 10), ...place(null) }) +
					positionFrame({ id: 'g1', ...place(1, 1) }) + // it no longer waits: a late frame is ignored
					frame({ ...view('completed', 3, 100), ...place(null) })
			);
		});
		const { updates, subscription, errors } = follow(baseUrl, { transport: 'stream' });
		expect((await subscription.finished)?.status).toBe('completed');
		expect(places(updates)).toEqual([
			['queued', 1, 3, at(3)],
			['queued', 1, 2, at(2)],
			['queued', 1, 1, at(1)],
			['processing', 2, null, null],
			['completed', 3, null, null]
		]);
		expect(updates[1]).toMatchObject({ prompt: 'a lake', progress: 0, estimated_done_at: at(4) }); // the rest of the state kept
		expect(errors).toEqual([]);
	});

	test('a place arriving before any state has nothing to move; with an initial state it moves that one', async () => {
		const baseUrl = await serve((_request, response) => {
			streamHead(response);
			response.end(positionFrame({ id: 'g1', ...place(2, 2) }) + frame({ ...view('completed', 5, 100), ...place(null) }));
		});
		const bare = follow(baseUrl, { transport: 'stream' });
		await bare.subscription.finished;
		expect(places(bare.updates)).toEqual([['completed', 5, null, null]]);

		const handed = follow(baseUrl, { transport: 'stream', afterSeq: 4, initial: waiting(3, 4) });
		await handed.subscription.finished;
		expect(places(handed.updates)).toEqual([['queued', 4, 2, at(2)], ['completed', 5, null, null]]);
	});

	test('a poll delivers a new place at the same event_seq, and not the same place twice', async () => {
		const answers = [waiting(3), waiting(3), waiting(2), waiting(1), { ...view('completed', 2, 100), ...place(null) }];
		const baseUrl = await serve((_request, response, n) => {
			response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers[Math.min(n, answers.length - 1)]));
		});
		const { updates, subscription } = follow(baseUrl, { transport: 'poll', pollMs: 20 });
		await subscription.finished;
		expect(places(updates)).toEqual([
			['queued', 1, 3, at(3)],
			['queued', 1, 2, at(2)],
			['queued', 1, 1, at(1)],
			['completed', 2, null, null]
		]);
	});

	test('an older server without the fields: states at the same event_seq are still delivered once', async () => {
		const answers = [view('queued', 1), view('queued', 1), view('completed', 2, 100)];
		const baseUrl = await serve((_request, response, n) => {
			response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers[Math.min(n, 2)]));
		});
		const { updates, subscription } = follow(baseUrl, { transport: 'poll', pollMs: 20, afterSeq: 1 });
		await subscription.finished;
		expect(updates.map((g) => g.event_seq)).toEqual([2]);
	});
});
