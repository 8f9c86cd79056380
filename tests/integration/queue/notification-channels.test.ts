// The channel names are written twice by necessity, in SQL (pg_notify) and in TypeScript (LISTEN):
// this holds them together, so renaming one side alone fails here instead of silently stopping
// the worker's wake-ups or the live progress stream.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { GENERATION_CHANNEL } from '$lib/server/generations/events';
import { JOB_INSERTED_CHANNEL } from '$lib/server/queue';
import { createTestDatabase, type TestDatabase } from '../../support/db';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(() => db.drop());

test('every channel the live functions notify is one the app listens on, and both are notified', async () => {
	const rows = await db.sql<{ fn: string; body: string }[]>`
		select p.oid::regprocedure::text as fn, p.prosrc as body
		from pg_proc p join pg_namespace n on n.oid = p.pronamespace
		where n.nspname in ('public', 'app_private') and p.prosrc ilike '%pg_notify%'`;
	const notified = new Map<string, string[]>();
	for (const { fn, body } of rows) {
		for (const [, channel] of body.matchAll(/pg_notify\(\s*'([^']+)'/gi)) notified.set(channel!, [...(notified.get(channel!) ?? []), fn]);
		// A channel computed at run time could not be checked: there is none.
		expect(body.replace(/pg_notify\(\s*'[^']+'/gi, '')).not.toMatch(/pg_notify\(/i);
	}
	expect([...notified.keys()].sort()).toEqual([GENERATION_CHANNEL, JOB_INSERTED_CHANNEL].sort());
});

test('a notification on the queue channel arrives with the name the worker listens for', async () => {
	let heard!: (payload: string) => void;
	const received = new Promise<string>((resolve) => (heard = resolve));
	// Resolves once the LISTEN is registered, so the enqueue below cannot be missed.
	const subscription = await db.sql.listen(JOB_INSERTED_CHANNEL, (payload) => heard(payload));
	try {
		await db.sql`select public.enqueue_job('channel-check', '{}'::jsonb)`;
		await expect(received).resolves.toBeTypeOf('string');
	} finally {
		await subscription.unlisten();
	}
});
