// A closed-loop HTTP load: each client sends its next request when the previous answer is read, on
// keep-alive connections (one per client), for a fixed time.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { percentile, round } from './support';

export interface LoadRequest {
	method: 'GET' | 'POST';
	path: string;
	headers?: Record<string, string>;
	body?: string;
}

export interface LoadOptions {
	clients: number;
	seconds: number;
	/** The request client sends as its n-th. */
	request(client: number, n: number): LoadRequest;
	/** The status a successful answer has (201 for a create). */
	status: number;
}

export interface LoadResult {
	/** Answers with the expected status; only these are timed. */
	requests: number;
	failed: number;
	seconds: number;
	requestsPerSecond: number;
	p50Ms: number;
	p99Ms: number;
	/** A few of the unexpected statuses, to tell why requests failed. */
	failures: Record<string, number>;
}

function send(agent: http.Agent, origin: URL, request: LoadRequest): Promise<number> {
	return new Promise((resolve, reject) => {
		const headers: Record<string, string | number> = { ...request.headers };
		if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
		const req = http.request(
			{ agent, host: origin.hostname, port: origin.port, method: request.method, path: request.path, headers },
			(res) => {
				res.on('data', () => {});
				res.on('end', () => resolve(res.statusCode ?? 0));
				res.on('error', reject);
			}
		);
		req.on('error', reject);
		req.end(request.body);
	});
}

/** originUrl: one app, or several (client i talks to origin i mod n, so the clients spread evenly). */
export async function httpLoad(originUrl: string | string[], options: LoadOptions): Promise<LoadResult> {
	const origins = (Array.isArray(originUrl) ? originUrl : [originUrl]).map((url) => new URL(url));
	const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
	const latencies: number[] = [];
	const failures: Record<string, number> = {};
	let failed = 0;
	const started = performance.now();
	const deadline = started + options.seconds * 1000;
	try {
		await Promise.all(
			Array.from({ length: options.clients }, async (_, client) => {
				for (let n = 0; performance.now() < deadline; n++) {
					const t0 = performance.now();
					const status = await send(agent, origins[client % origins.length]!, options.request(client, n)).catch((error: Error) => error.message);
					if (status === options.status) latencies.push(performance.now() - t0);
					else {
						failed++;
						failures[String(status)] = (failures[String(status)] ?? 0) + 1;
					}
				}
			})
		);
	} finally {
		agent.destroy();
	}
	const seconds = (performance.now() - started) / 1000;
	latencies.sort((a, b) => a - b);
	return {
		requests: latencies.length,
		failed,
		seconds: round(seconds, 3),
		requestsPerSecond: latencies.length / seconds,
		p50Ms: percentile(latencies, 50),
		p99Ms: percentile(latencies, 99),
		failures
	};
}
