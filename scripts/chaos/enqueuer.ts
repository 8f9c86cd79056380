// A chaos enqueuer process: submits generations through the same service the app's POST
// /api/generations calls (validation, limits, start_generation), several at a time, and retries a
// submission the database did not answer (a Postgres restart): an idempotency key per submission
// makes the retry safe, so each one creates exactly one generation.
// Usage: tsx scripts/chaos/enqueuer.ts <user id> <count> <parallel> <model id> <label>
import { createSql } from '../../src/lib/server/db/client';
import { startGeneration } from '../../src/lib/server/generations/start';

const [userId, countText, parallelText, modelId, label] = process.argv.slice(2);
const count = Number(countText);
const parallel = Number(parallelText);
const sql = createSql(process.env.DATABASE_URL!, { max: parallel });

let next = 0;
let retries = 0;
async function submitter(): Promise<void> {
	for (let i = next++; i < count; i = next++) {
		for (let attempt = 1; ; attempt++) {
			try {
				await startGeneration(
					sql,
					userId!,
					{
						prompt: `chaos ${label} ${i}: a lighthouse on a cliff at dusk`,
						model_id: modelId!,
						width: 256,
						height: 256,
						seed: i,
						negative_prompt: null,
						idempotency_key: `chaos-${label}-${i}`
					},
					{ replicateConfigured: true }
				);
				break;
			} catch (error) {
				if (attempt >= 60) throw error;
				retries++;
				await new Promise((resolve) => setTimeout(resolve, 500));
			}
		}
	}
}

await Promise.all(Array.from({ length: parallel }, () => submitter()));
await sql.end({ timeout: 5 });
console.log(JSON.stringify({ submitted: count, retries }));
process.exit(0);
