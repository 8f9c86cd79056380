// The fan-out behind SSE: one listener per process; polling where LISTEN is unavailable.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { GenerationEvents } from '$lib/server/generations/events';
import type { GenerationRow } from '$lib/server/generations/types';
import { createTestDatabase, createUser, type TestDatabase } from '../../support/db';
import { deferred } from '../../support/services';

let db: TestDatabase;
let userId: string;
beforeAll(async () => {
	db = await createTestDatabase();
	userId = (await createUser(db.sql)).id;
});
afterAll(() => db.drop());

async function newGeneration(): Promise<string> {
	const [row] = await db.sql`insert into image_generations (user_id, prompt, model_id, width, height, seed)
		values (${userId}, 'a kite', 'local/preview', 512, 512, 1) returning id`;
	return row!.id;
}

for (const listen of [true, false]) {
	test(`${listen ? 'LISTEN/NOTIFY' : 'polling'}: every subscriber of a generation gets each change once`, async () => {
		const events = new GenerationEvents(db.sql, { listen, pollMs: 50 });
		const id = await newGeneration();
		const seen: number[][] = [[], [], []];
		const reached = seen.map(() => deferred());
		const unsubscribes = await Promise.all(
			seen.map((list, i) =>
				events.subscribe(id, (row: GenerationRow) => {
					list.push(row.progress);
					if (row.status === 'completed') reached[i]!.resolve();
				})
			)
		);
		await db.sql`update image_generations set status = 'processing', progress = 40 where id = ${id}`;
		await db.sql`update image_generations set status = 'completed', progress = 100, image_path = 'x' where id = ${id}`;
		await Promise.all(reached.map((r) => r.promise));
		for (const list of seen) {
			expect(list.at(-1)).toBe(100);
			// Never the same state twice, never backwards.
			expect([...list].sort((a, b) => a - b)).toEqual(list);
			expect(new Set(list).size).toBe(list.length);
		}
		unsubscribes.forEach((unsubscribe) => unsubscribe());
		expect(events.subscriberCount).toBe(0);
		await events.close();
	});
}

test('a change made while the LISTEN connection was down reaches subscribers once it is back', async () => {
	const events = new GenerationEvents(db.sql, { listen: true, pollMs: 60_000 });
	const id = await newGeneration();
	const got = deferred();
	await events.subscribe(id, (row: GenerationRow) => {
		if (row.progress === 70) got.resolve();
	});
	// Cut the listening connection, and change the row before it can have listened again: nobody
	// hears that notification. (The hub's poll is an hour away, so only the re-read can deliver it.)
	await db.sql`
		select pg_terminate_backend(pid) from pg_stat_activity
		where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()`;
	await db.sql`update image_generations set status = 'processing', progress = 70 where id = ${id}`;
	await got.promise;
	await events.close();
});
