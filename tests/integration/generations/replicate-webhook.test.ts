// The fake server's signed webhooks, checked by a receiver that verifies them as the app's route
// will: raw body, the three headers, the shared secret.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createReplicateProvider } from '$lib/server/providers/replicate';
import { verifyReplicateWebhook } from '$lib/server/providers/webhook-signature';
import { startFakeReplicate, type FakeReplicate } from '../../support/fake-replicate';
import { recordingContext, request } from '../../support/fake-replicate-fixtures';

let server: FakeReplicate;
let receiver: Server;
let receiverUrl: string;
const received: { status: string; verdict: ReturnType<typeof verifyReplicateWebhook> }[] = [];

beforeAll(async () => {
	server = await startFakeReplicate();
	receiver = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (chunk: Buffer) => chunks.push(chunk));
		req.on('end', () => {
			const body = Buffer.concat(chunks);
			const header = (name: string) => req.headers[name] as string | undefined;
			const verdict = verifyReplicateWebhook({
				id: header('webhook-id'),
				timestamp: header('webhook-timestamp'),
				signature: header('webhook-signature'),
				body,
				secret: server.webhookSecret
			});
			received.push({ status: (JSON.parse(body.toString()) as { status: string }).status, verdict });
			res.writeHead(verdict.ok ? 204 : 401).end();
		});
	});
	await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
	receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/webhooks/replicate`;
});
afterAll(async () => {
	await server.close();
	receiver.closeAllConnections();
	await new Promise((resolve) => receiver.close(resolve));
});

test('signed deliveries verify; a wrong secret, a tampered body and a stale timestamp do not', async () => {
	const provider = createReplicateProvider({ token: server.token, baseUrl: server.baseUrl, webhookUrl: receiverUrl, maxWaitMs: 0 });
	server.scriptNext({ processingPolls: 1 });
	const running = await provider.generate(request(), recordingContext().context);
	if (running.state !== 'running') throw new Error('expected running');
	const id = running.predictionId;

	expect((await server.sendWebhook(id)).status).toBe(204); // to the URL given at create
	server.advance(id, 3);
	expect(server.view(id).status).toBe('succeeded');
	expect((await server.sendWebhook(id)).status).toBe(204);
	expect(received.map((r) => r.status)).toEqual(['starting', 'succeeded']);

	const wrongSecret = await server.sendWebhook(id, { secret: `whsec_${Buffer.from('another secret').toString('base64')}` });
	expect(wrongSecret.status).toBe(401);
	expect((await server.sendWebhook(id, { body: JSON.stringify({ ...server.view(id), status: 'failed' }) })).status).toBe(401);
	const stale = String(Math.floor(Date.now() / 1000) - 600);
	expect((await server.sendWebhook(id, { timestamp: stale })).status).toBe(401);
	expect(received.slice(2).map((r) => (r.verdict.ok ? 'ok' : r.verdict.reason))).toEqual(['bad-signature', 'bad-signature', 'stale-timestamp']);
});
