// /admin/audit: the log newest first, keyset paged; each page once, none twice.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { recordAudit } from '$lib/server/console/audit';
import type { Services } from '$lib/server/runtime';
import { load } from '$routes/admin/audit/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { loadPage } from '../../support/console-jobs';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());

interface AuditPage {
	entries: { id: number; action: string; affected_rows: number }[];
	older: string | null;
	newest: string | null;
}
const page = (path: string) => loadPage<AuditPage>(load, services, admin.user, path);

test('an empty log is an empty page', async () => {
	expect(await page('/admin/audit')).toMatchObject({ entries: [], older: null, newest: null });
});

test('newest first, 50 a page, every entry exactly once', async () => {
	for (let i = 0; i < 120; i++) await recordAudit(db.sql, admin.user, `test.action_${i}`, { affectedRows: i });
	const first = await page('/admin/audit');
	expect(first.entries).toHaveLength(50);
	expect(first.entries[0]).toMatchObject({ action: 'test.action_119', affected_rows: 119 });
	expect(first.newest).toBeNull();
	const second = await page(first.older!);
	const third = await page(second.older!);
	expect(second.newest).toBe('/admin/audit');
	expect(third.entries).toHaveLength(20);
	expect(third.older).toBeNull();
	const actions = [...first.entries, ...second.entries, ...third.entries].map((e) => e.action);
	expect(actions).toEqual(Array.from({ length: 120 }, (_, i) => `test.action_${119 - i}`));
});

test('a malformed ?before= is ignored: the newest page', async () => {
	const result = await page(`/admin/audit?before=${encodeURIComponent("1; delete from admin_audit_log")}`);
	expect(result.entries[0]!.action).toBe('test.action_119');
});
