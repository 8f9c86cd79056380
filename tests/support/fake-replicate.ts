// A local HTTP server speaking enough of Replicate's API for the real `replicate` client:
// create (official model and versioned), get, cancel, output files, bearer auth, forced failures
// (429 with Retry-After, 5xx, 422) and signed webhooks. Test support only, never app code.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { signReplicateWebhook } from '../../src/lib/server/providers/webhook-signature';
import {
	fullScript,
	predictionId,
	predictionJson,
	statusOf,
	validateInput,
	type FakePrediction,
	type PredictionScript
} from './fake-replicate-predictions';

export { NSFW_ERROR, type PredictionScript } from './fake-replicate-predictions';

export interface ForcedResponse {
	status: number;
	/** How many matching requests get this answer. Default 1. */
	count?: number;
	/** Sent as the Retry-After header (seconds or an HTTP date). */
	retryAfter?: string;
	body?: unknown;
	/** Which requests it applies to; default every API request (/v1/...), not file downloads. */
	path?: RegExp;
	method?: string;
}

export interface RecordedRequest {
	method: string;
	path: string;
	status: number;
}

export interface FakeReplicateOptions {
	token?: string;
	/** Script for predictions created without a scriptNext() queued. */
	defaultScript?: PredictionScript;
	webhookSecret?: string;
	/** Random faults on API requests (not file downloads): see setFaults(). */
	faults?: FaultOptions;
}

export interface FaultOptions {
	/** Fraction (0-1) of API requests answered with a fault instead of being served. */
	rate: number;
	/** Retry-After sent with the 429s, in seconds. Default 2. */
	retryAfterSeconds?: number;
	/** The faults to pick from, uniformly. Default 500, 503 and 429. */
	statuses?: number[];
}

const DEFAULT_BODIES: Record<number, { title: string; detail: string }> = {
	422: { title: 'Input validation failed', detail: '- input.prompt: prompt is required' },
	429: { title: 'Request was throttled.', detail: 'Request was throttled. Expected available in 3 seconds.' },
	500: { title: 'Internal server error', detail: 'Something went wrong on our end.' }
};

export class FakeReplicate {
	readonly token: string;
	readonly webhookSecret: string;
	readonly predictions = new Map<string, FakePrediction>();
	readonly requests: RecordedRequest[] = [];
	/** Predictions actually created (forced failures and rejected input excluded). */
	createdCount = 0;
	downloadCount = 0;
	origin = '';
	private readonly server = createServer((req, res) => void this.handle(req, res));
	private readonly forced: (ForcedResponse & { remaining: number })[] = [];
	private readonly scripts: PredictionScript[] = [];
	private png: Promise<Buffer> | null = null;
	private faults: FaultOptions | null = null;
	/** Faults injected by setFaults(), by status. */
	readonly faultsInjected: Record<number, number> = {};

	constructor(private readonly options: FakeReplicateOptions = {}) {
		this.token = options.token ?? 'r8_fake_test_token';
		this.webhookSecret = options.webhookSecret ?? `whsec_${randomBytes(24).toString('base64')}`;
		this.faults = options.faults ?? null;
	}

	/** Fail a random fraction of API requests from now on (null: stop). Forced responses come first. */
	setFaults(faults: FaultOptions | null): void {
		this.faults = faults;
	}

	/** Base URL for `new Replicate({ baseUrl })`. */
	get baseUrl(): string {
		return `${this.origin}/v1`;
	}

	/** Every request received, API and file downloads alike. */
	get requestCount(): number {
		return this.requests.length;
	}

	async listen(): Promise<this> {
		await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
		this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
		return this;
	}

	async close(): Promise<void> {
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}

	/** The script of the next prediction created (queued, first in first out). */
	scriptNext(script: PredictionScript): void {
		this.scripts.push(script);
	}

	/** Answer the next matching request(s) with this status instead of serving them. */
	forceNext(response: ForcedResponse): void {
		this.forced.push({ ...response, remaining: response.count ?? 1 });
	}

	prediction(id: string): FakePrediction {
		const found = this.predictions.get(id);
		if (!found) throw new Error(`fake replicate: no prediction ${id}`);
		return found;
	}

	/** The prediction's current API JSON, as GET would answer (without advancing it). */
	view(id: string): Record<string, unknown> {
		return predictionJson(this.prediction(id), this.origin);
	}

	/** Move a prediction one stage on without a GET (e.g. before sending a webhook). */
	advance(id: string, stages = 1): Record<string, unknown> {
		const p = this.prediction(id);
		for (let i = 0; i < stages; i += 1) this.step(p);
		return this.view(id);
	}

	/** Delete a prediction's output now, as Replicate does an hour after it finished. */
	expireOutput(id: string): void {
		this.prediction(id).outputExpired = true;
	}

	/**
	 * POST the prediction's current JSON, signed, to `url` (default: the webhook it was created
	 * with). Overrides let tests send bad signatures, stale timestamps or tampered bodies.
	 */
	async sendWebhook(
		id: string,
		overrides: { url?: string; secret?: string; webhookId?: string; timestamp?: string; body?: string; signature?: string } = {}
	): Promise<Response> {
		const url = overrides.url ?? this.prediction(id).webhook;
		if (!url) throw new Error(`fake replicate: prediction ${id} has no webhook URL`);
		const body = JSON.stringify(this.view(id));
		const webhookId = overrides.webhookId ?? `msg_${randomBytes(12).toString('hex')}`;
		const timestamp = overrides.timestamp ?? String(Math.floor(Date.now() / 1000));
		const signature =
			overrides.signature ?? signReplicateWebhook({ id: webhookId, timestamp, body, secret: overrides.secret ?? this.webhookSecret });
		return fetch(url, {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'webhook-id': webhookId, 'webhook-timestamp': timestamp, 'webhook-signature': signature },
			body: overrides.body ?? body
		});
	}

	private step(p: FakePrediction): void {
		if (p.canceledAt) return;
		p.polls += 1;
		if (statusOf(p) === 'succeeded' && p.requestsAtSuccess === null) p.requestsAtSuccess = this.requestCount;
	}

	private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const method = req.method ?? 'GET';
		const path = new URL(req.url ?? '/', 'http://x').pathname;
		const record: RecordedRequest = { method, path, status: 0 };
		this.requests.push(record);
		const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
			record.status = status;
			const text = JSON.stringify(body);
			res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
			res.end(text);
		};
		try {
			const raw = await readBody(req);
			if (this.applyForced(method, path, send)) return;
			if (this.applyFault(path, send)) return;
			if (method === 'GET' && path.startsWith('/files/')) return await this.serveFile(path, record, res, send);
			if (req.headers.authorization !== `Bearer ${this.token}`) {
				return send(401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 });
			}
			const official = /^\/v1\/models\/([^/]+)\/([^/]+)\/predictions$/.exec(path);
			if (method === 'POST' && (official || path === '/v1/predictions')) {
				const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
				return this.create(official ? `${official[1]}/${official[2]}` : null, body, send);
			}
			const one = /^\/v1\/predictions\/([^/]+)(\/cancel)?$/.exec(path);
			const p = one ? this.predictions.get(one[1]!) : undefined;
			if (one && (method === 'GET' || (method === 'POST' && one[2]))) {
				if (!p) return send(404, { title: 'Not found', detail: 'Not found.', status: 404 });
				if (one[2]) {
					if (!['succeeded', 'failed', 'canceled'].includes(statusOf(p))) p.canceledAt = new Date().toISOString();
				} else {
					this.step(p);
				}
				return send(200, predictionJson(p, this.origin));
			}
			send(404, { title: 'Not found', detail: `No route for ${method} ${path}`, status: 404 });
		} catch (error) {
			send(500, { title: 'Fake server error', detail: String(error), status: 500 });
		}
	}

	private applyForced(method: string, path: string, send: (status: number, body: unknown, headers?: Record<string, string>) => void): boolean {
		const index = this.forced.findIndex((f) => (f.path ?? /^\/v1\//).test(path) && (!f.method || f.method === method));
		const forced = this.forced[index];
		if (!forced) return false;
		forced.remaining -= 1;
		if (forced.remaining <= 0) this.forced.splice(index, 1);
		const body = forced.body ?? { ...(DEFAULT_BODIES[forced.status] ?? { title: 'Error', detail: 'Forced error' }), status: forced.status };
		send(forced.status, body, forced.retryAfter ? { 'retry-after': forced.retryAfter } : {});
		return true;
	}

	private applyFault(path: string, send: (status: number, body: unknown, headers?: Record<string, string>) => void): boolean {
		if (!this.faults || !path.startsWith('/v1/') || Math.random() >= this.faults.rate) return false;
		const statuses = this.faults.statuses ?? [500, 503, 429];
		const status = statuses[Math.floor(Math.random() * statuses.length)]!;
		this.faultsInjected[status] = (this.faultsInjected[status] ?? 0) + 1;
		const body = { ...(DEFAULT_BODIES[status] ?? { title: 'Service unavailable', detail: 'Injected fault' }), status };
		send(status, body, status === 429 ? { 'retry-after': String(this.faults.retryAfterSeconds ?? 2) } : {});
		return true;
	}

	private create(model: string | null, body: Record<string, unknown>, send: (status: number, body: unknown) => void): void {
		const version = typeof body.version === 'string' ? body.version : null;
		if (!model && !version) {
			return send(422, { title: 'Input validation failed', detail: '- version: version is required', status: 422 });
		}
		const invalid = validateInput(model, body.input);
		if (invalid) return send(422, invalid);
		const input = body.input as Record<string, unknown>;
		const id = predictionId();
		const p: FakePrediction = {
			id,
			model,
			version,
			input,
			webhook: typeof body.webhook === 'string' ? body.webhook : null,
			webhookEventsFilter: Array.isArray(body.webhook_events_filter) ? (body.webhook_events_filter as string[]) : null,
			createBody: body,
			script: fullScript(this.scripts.shift() ?? this.options.defaultScript ?? {}, input),
			polls: 0,
			canceledAt: null,
			createdAt: new Date().toISOString(),
			requestsAtSuccess: null,
			outputExpired: false
		};
		this.predictions.set(id, p);
		this.createdCount += 1;
		if (statusOf(p) === 'succeeded') p.requestsAtSuccess = this.requestCount;
		send(201, predictionJson(p, this.origin));
	}

	private async serveFile(
		path: string,
		record: RecordedRequest,
		res: ServerResponse,
		send: (status: number, body: unknown) => void
	): Promise<void> {
		const p = this.predictions.get(/^\/files\/([^/.]+)\.png$/.exec(path)?.[1] ?? '');
		if (!p || statusOf(p) !== 'succeeded') return send(404, { detail: 'Not found.', status: 404 });
		const ttl = p.script.outputExpiresAfterRequests;
		const since = this.requestCount - (p.requestsAtSuccess ?? this.requestCount);
		if (p.outputExpired || (ttl !== null && since > ttl)) return send(404, { detail: 'Not found.', status: 404 });
		this.png ??= sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 80, b: 40 } } }).png().toBuffer();
		const png = await this.png;
		this.downloadCount += 1;
		record.status = 200;
		res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
		res.end(png);
	}
}

function readBody(req: IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});
}

/** Starts a fake Replicate on a free port of 127.0.0.1. Close it in afterAll/afterEach. */
export function startFakeReplicate(options: FakeReplicateOptions = {}): Promise<FakeReplicate> {
	return new FakeReplicate(options).listen();
}
