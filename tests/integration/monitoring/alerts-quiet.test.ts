// With nothing wrong, evaluating the alerts records no change and raises nothing.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { recordAlertStates } from '$lib/server/monitoring/alerts';
import { createTestDatabase, type TestDatabase } from '../../support/db';

let db: TestDatabase;
beforeAll(async () => {
	db = await createTestDatabase();
});
afterAll(() => db.drop());

test('no firing condition: no change, no error', async () => {
	const checks = [{ key: 'pending_backlog', firing: false, title: 't', detail: 'd', href: '/admin' }];
	expect(await recordAlertStates(db.sql, checks as never)).toEqual([]);
});
