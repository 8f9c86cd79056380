// Webhooks delivered more than once and out of order: succeeded, then a late processing, then
// succeeded again (three distinct deliveries; the same delivery twice is already covered by
// tests/integration/generations/replicate-run.test.ts). A webhook only records progress and wakes the
// job; the worker reads the prediction and decides. So: one final state, reached once, with one
// prediction, one image and one thumbnail, and a late delivery never moves anything back.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSql, type Sql } from '../../src/lib/server/db/client';
import { createGenerateImageHandler } from '../../src/lib/server/generations/handler';
import { startGeneration } from '../../src/lib/server/generations/start';
import { applyReplicateWebhook } from '../../src/lib/server/generations/webhook';
import { createLocalProvider } from '../../src/lib/server/providers/local';
import { createReplicateProvider } from '../../src/lib/server/providers/replicate';
import { createFsStorage } from '../../src/lib/server/storage/fs';
import { runWorkerForBudget } from '../../src/lib/server/worker/budgeted';
import { startFakeReplicate } from '../../tests/support/fake-replicate';
import { createChaosUser, prepareChaosDatabase } from './cluster';
import { GENERATE_IMAGE } from '../../src/lib/server/worker/jobs';

export interface WebhookOutcome {
	deliveries: string[];
	finalStatus: string;
	completedInHistory: number;
	jobCompletions: number;
	progressAfterLateDelivery: number;
	predictionsCreated: number;
	files: number;
}

async function generationState(sql: Sql, id: string) {
	const [row] = await sql<{ status: string; progress: number; completed: number; job_id: string }[]>`
		select status, progress, job_id,
		       (select count(*)::int from jsonb_array_elements(history) h where h ->> 'status' = 'completed') as completed
		from image_generations where id = ${id}`;
	return row!;
}

export async function deliverOutOfOrder(databaseUrl: string): Promise<WebhookOutcome> {
	const sql = createSql(databaseUrl, { max: 4 });
	const fake = await startFakeReplicate({ defaultScript: { startingPolls: 0, processingPolls: 1000, steps: 10 } });
	const dir = await mkdtemp(path.join(tmpdir(), 'picture-webhooks-'));
	try {
		await prepareChaosDatabase(sql, { modelConcurrency: 10 });
		const replicate = createReplicateProvider({
			token: fake.token,
			baseUrl: fake.baseUrl,
			webhookUrl: 'http://127.0.0.1:1/api/webhooks/replicate',
			maxWaitMs: 0
		});
		const handler = createGenerateImageHandler({
			providers: { local: createLocalProvider({ msPerImage: 0 }), replicate },
			storage: createFsStorage(dir)
		});
		const work = () =>
			runWorkerForBudget({ sql, handlers: { [GENERATE_IMAGE]: handler }, trigger: 'manual', budgetMs: 5000, concurrency: 2, leaseSeconds: 30 });
		const userId = await createChaosUser(sql, 'webhooks');
		const { generation_id: id } = await startGeneration(
			sql,
			userId,
			{ prompt: 'a windmill', model_id: 'black-forest-labs/flux-schnell', width: 256, height: 256, seed: 7, negative_prompt: null, idempotency_key: null },
			{ replicateConfigured: true }
		);
		await work(); // creates the prediction and snoozes the job until a webhook (or the 30 s check)
		const [row] = await sql<{ prediction_id: string }[]>`select prediction_id from image_generations where id = ${id}`;
		const predictionId = row!.prediction_id;
		fake.advance(predictionId, 5);
		const processing = fake.view(predictionId);
		fake.advance(predictionId, 2000);
		const succeeded = fake.view(predictionId);

		const deliveries: string[] = [];
		deliveries.push(await applyReplicateWebhook(sql, 'msg_1', succeeded));
		deliveries.push(await applyReplicateWebhook(sql, 'msg_2', processing)); // late, out of order
		deliveries.push(await applyReplicateWebhook(sql, 'msg_3', succeeded));
		await work(); // woken by the first delivery: downloads, stores, completes
		// Late again, after the end: nothing moves back.
		deliveries.push(await applyReplicateWebhook(sql, 'msg_4', processing));
		deliveries.push(await applyReplicateWebhook(sql, 'msg_2', processing));
		await work();

		const state = await generationState(sql, id);
		const [audit] = await sql<{ n: number }[]>`
			select count(*)::int as n from chaos_job_audit where job_id = ${state.job_id} and new_status = 'completed'`;
		const jobCompletions = audit!.n;
		const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((f) => f.isFile()).length;
		return {
			deliveries,
			finalStatus: state.status,
			completedInHistory: state.completed,
			jobCompletions,
			progressAfterLateDelivery: state.progress,
			predictionsCreated: fake.createdCount,
			files
		};
	} finally {
		await fake.close();
		await sql.end({ timeout: 5 });
		await rm(dir, { recursive: true, force: true });
	}
}

export async function runWebhookScenario(options: { databaseUrl: string; log: (m: string) => void }) {
	const o = await deliverOutOfOrder(options.databaseUrl);
	const ok =
		o.finalStatus === 'completed' &&
		o.completedInHistory === 1 &&
		o.jobCompletions === 1 &&
		o.progressAfterLateDelivery === 100 &&
		o.predictionsCreated === 1 &&
		o.files === 2 &&
		o.deliveries.at(-1) === 'duplicate';
	return { summary: { scenario: 'webhooks', ...o } as Record<string, unknown>, ok };
}
