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

test('a burst over many generations is read together, and each subscriber gets only its own generation', async () => {
	const events = new GenerationEvents(db.sql, { listen: true, pollMs: 60_000 });
	const ids = await Promise.all(Array.from({ length: 30 }, () => newGeneration()));
	const seen = new Map<string, GenerationRow[][]>(ids.map((id) => [id, [[], []]]));
	const finished = ids.flatMap(() => [deferred(), deferred()]);
	const unsubscribes = await Promise.all(
		ids.flatMap((id, g) =>
			[0, 1].map((k) =>
				events.subscribe(id, (row) => {
					seen.get(id)![k]!.push(row);
					if (row.progress === 3) finished[g * 2 + k]!.resolve();
				})
			)
		)
	);
	// Three changes to every generation, each its own transaction, all at once.
	for (let step = 1; step <= 3; step++) {
		await Promise.all(ids.map((id) => db.sql`update image_generations set status = 'processing', progress = ${step} where id = ${id}`));
	}
	await Promise.all(finished.map((f) => f.promise));
	for (const [id, lists] of seen) {
		for (const list of lists) {
			expect(list.every((row) => row.id === id)).toBe(true);
			const seqs = list.map((row) => Number(row.event_seq));
			expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
			expect(new Set(seqs).size).toBe(seqs.length);
		}
		// Both subscribers of a generation saw the same states, as the same objects (read once).
		expect(lists[1]).toEqual(lists[0]);
		lists[0]!.forEach((row, i) => expect(lists[1]![i]).toBe(row));
	}
	unsubscribes.forEach((unsubscribe) => unsubscribe());
	expect(events.subscriberCount).toBe(0);
	await events.close();
});

test('many subscribers of one generation get every change, in order, and one that throws costs the others nothing', async () => {
	const events = new GenerationEvents(db.sql, { listen: true, pollMs: 60_000, log: () => {} });
	const id = await newGeneration();
	const lists: number[][] = Array.from({ length: 200 }, () => []);
	let step = deferred();
	let waiting = lists.length;
	await events.subscribe(id, () => {
		throw new Error('a broken subscriber');
	});
	const unsubscribes = await Promise.all(
		lists.map((list) =>
			events.subscribe(id, (row) => {
				if (row.progress === 0) return; // the state read when the hub starts listening
				list.push(row.progress);
				if (--waiting === 0) step.resolve();
			})
		)
	);
	// Each change waits for the last to be delivered everywhere, so none may be coalesced away.
	for (let progress = 1; progress <= 10; progress++) {
		step = deferred();
		waiting = lists.length;
		await db.sql`update image_generations set status = 'processing', progress = ${progress} where id = ${id}`;
		await step.promise;
	}
	const expected = Array.from({ length: 10 }, (_, i) => i + 1);
	for (const list of lists) expect(list).toEqual(expected);
	unsubscribes.forEach((unsubscribe) => unsubscribe());
	expect(events.subscriberCount).toBe(1);
	await events.close();
});

test('a subscriber that leaves in the middle of a burst is not called again and leaves nothing behind', async () => {
	const events = new GenerationEvents(db.sql, { listen: true, pollMs: 60_000 });
	const id = await newGeneration();
	const stayed = deferred();
	const left: number[] = [];
	let leave = () => {};
	leave = await events.subscribe(id, (row) => {
		left.push(row.progress);
		leave(); // from inside the dispatch, as a stream closing on its first event does
	});
	const unsubscribe = await events.subscribe(id, (row) => {
		if (row.progress === 20) stayed.resolve();
	});
	await Promise.all(
		Array.from({ length: 20 }, (_, i) => db.sql`update image_generations set progress = greatest(progress, ${i + 1}) where id = ${id}`)
	);
	await stayed.promise;
	expect(left).toHaveLength(1);
	expect(events.subscriberCount).toBe(1);
	unsubscribe();
	expect(events.subscriberCount).toBe(0);
	await events.close();
});
