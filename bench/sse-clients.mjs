// The SSE clients of bench/sse-fanout.ts, in a worker thread of their own (plain JavaScript: the
// worker does not go through tsx). Each client holds one event stream open with raw http.request
// and notes, for every event, its id and the moment its bytes came off the socket. Parsing is a
// scan for "id: " lines (and "event: position" lines, which carry no id: the moments a place in line
// arrived), and nothing more, so the clients stay cheap next to the app they measure.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

const { origin, subscribers } = workerData;
const now = () => performance.timeOrigin + performance.now();
const url = new URL(origin);
// One socket per stream, kept out of the default agent's pool limits.
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** Per subscriber: event ids and read times; position events' read times and numbers; as they arrive. */
const seen = subscribers.map(() => ({ ids: [], times: [], positions: [], places: [] }));
const requests = [];
let connected = 0;
let received = 0;
let target = Infinity;

function open(index) {
	const { generationId, token } = subscribers[index];
	const request = http.request(
		{
			host: url.hostname,
			port: url.port,
			path: `/api/generations/${generationId}/events`,
			agent,
			headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }
		},
		(response) => {
			if (response.statusCode !== 200) {
				parentPort.postMessage({ type: 'error', message: `subscriber ${index}: HTTP ${response.statusCode}` });
				response.resume();
				return;
			}
			response.setEncoding('utf8');
			let tail = '';
			let first = true;
			response.on('data', (chunk) => {
				const at = now();
				const text = tail + chunk;
				for (let at2 = text.indexOf('event: position\n'); at2 >= 0; at2 = text.indexOf('event: position\n', at2 + 1)) {
					// The place's number, so a reader can tell a move from an estimate that only shifted.
					const number = /"queue_position":(\d+|null)/.exec(text.slice(at2, at2 + 200));
					seen[index].positions.push(at);
					seen[index].places.push(number && number[1] !== 'null' ? Number(number[1]) : null);
					if (first) {
						first = false;
						if (++connected === subscribers.length) parentPort.postMessage({ type: 'connected' });
					}
				}
				let from = 0;
				for (;;) {
					const start = text.indexOf('id: ', from);
					if (start < 0) break;
					const end = text.indexOf('\n', start);
					if (end < 0) break;
					seen[index].ids.push(Number(text.slice(start + 4, end)));
					seen[index].times.push(at);
					from = end;
					received++;
					if (first) {
						first = false;
						if (++connected === subscribers.length) parentPort.postMessage({ type: 'connected' });
					}
				}
				// Keep only what could be the start of a line cut in two.
				const cut = text.lastIndexOf('\n');
				tail = cut < 0 ? text : text.slice(cut + 1);
				if (received >= target) {
					target = Infinity;
					parentPort.postMessage({ type: 'reached' });
				}
			});
			response.on('end', () => parentPort.postMessage({ type: 'ended', index }));
		}
	);
	request.on('error', (error) => parentPort.postMessage({ type: 'error', message: `subscriber ${index}: ${error.message}` }));
	request.end();
	requests.push(request);
}

parentPort.on('message', (message) => {
	if (message.type === 'expect') {
		// Report once this many events in all have been read (the main thread's round is over).
		target = message.total;
		if (received >= target) {
			target = Infinity;
			parentPort.postMessage({ type: 'reached' });
		}
	} else if (message.type === 'collect') {
		parentPort.postMessage({ type: 'seen', seen, received });
	} else if (message.type === 'close') {
		for (const request of requests) request.destroy();
		agent.destroy();
		parentPort.postMessage({ type: 'closed' });
	}
});

for (let i = 0; i < subscribers.length; i++) open(i);
