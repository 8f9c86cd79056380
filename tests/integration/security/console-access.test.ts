// Every console service refuses anyone the console does not admit, called directly, with no route or
// hook in front of it: a hand-made access value, a copy of a genuine one, and (for actions) a
// read-only operator's. Services are found by reading the console modules' exports, so a new one is
// checked without anyone listing it; only pure helpers are named here, as exceptions.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as access from '$lib/server/console/access';
import * as audit from '$lib/server/console/audit';
import * as exports from '$lib/server/console/export';
import * as failures from '$lib/server/console/failures';
import * as jobActions from '$lib/server/console/job-actions';
import * as jobs from '$lib/server/console/jobs';
import * as models from '$lib/server/console/models';
import * as overview from '$lib/server/console/overview';
import * as stuck from '$lib/server/console/stuck';
import * as users from '$lib/server/console/users';
import * as worker from '$lib/server/console/worker';
import { ForbiddenError, UnauthorizedError } from '$lib/server/errors';
import type { Services } from '$lib/server/runtime';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

const MODULES = { audit, exports, failures, jobs, jobActions, models, overview, stuck, users, worker };
/** Take no access because they read and write nothing: parsers, formatters, the audit writer the services call. */
const HELPERS = new Set([
	'recordAudit', 'listExports', 'csvCell', 'csvRow', 'parseGroupMessage', 'parseUuid', 'parseJobFilter', 'parseJobSort',
	'encodeCursor', 'parseCursor', 'filterQuery', 'parseSelectedIds', 'wholeNumber', 'runBudget', 'parseSelection', 'runState',
	'runAllowance'
]);
/** The services that change something: an operator may not call them. */
const ACTIONS = new Set([
	'retryFailureGroup', 'changeJob', 'runBulk', 'runSelection', 'setModelEnabled', 'setModelConcurrency', 'setModelPrice', 'resetStuck', 'setUserLimits',
	'clearUserLimits', 'setUserRole', 'endUserSessions', 'pauseType', 'resumeType', 'runWorkerNow', 'cancelAllPending', 'purgeFinished'
]);

type Service = (...args: unknown[]) => unknown;
const services = Object.entries(MODULES).flatMap(([module, exported]) =>
	Object.entries(exported as Record<string, unknown>)
		.filter(([name, value]) => typeof value === 'function' && !HELPERS.has(name) && !/^[A-Z]/.test(name))
		.map(([name, value]) => ({ label: `${module}.${name}`, name, fn: value as Service }))
);

let db: TestDatabase;
let app: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let operator: Awaited<ReturnType<typeof signedInUser>>;

/** What an action would change, so a refusal can be shown to have changed nothing. */
async function snapshot() {
	const [row] = await db.sql<{ s: string }[]>`
		select (select count(*) from admin_audit_log)::text || ':' || (select count(*) from worker_runs)::text || ':' ||
		       (select string_agg(id || enabled::text || max_concurrency::text, ',' order by id) from models) || ':' ||
		       (select count(*) from user_limits)::text || ':' || (select count(*) from job_queue_paused_types)::text as s`;
	return row!.s;
}

beforeAll(async () => {
	db = await createTestDatabase();
	app = await testServices(db);
	admin = await signedInUser(app, { admin: true });
	operator = await signedInUser(app, { operator: true });
});
afterAll(() => db.drop());

/** Arguments after the access value that would let each service go ahead if it did not check. */
function argsFor(name: string): unknown[] {
	const id = admin.id;
	const byName: Record<string, unknown[]> = {
		exportCsv: [db.sql, 'failed-jobs'],
		setModelEnabled: [db.sql, 'local/preview', false],
		setModelConcurrency: [db.sql, 'local/preview', '7'],
		setModelPrice: [db.sql, 'local/preview', '0.5'],
		setUserLimits: [db.sql, id, { hourly: '999', daily: '999' }],
		clearUserLimits: [db.sql, id],
		setUserRole: [db.sql, operator.id, 'admin', { localAccounts: true }],
		endUserSessions: [db.sql, app.sessions, operator.id],
		pauseType: [db.sql, 'generate-image', 'refused?'],
		resumeType: [db.sql, 'generate-image'],
		runWorkerNow: [app, '1'],
		purgeFinished: [db.sql, '1', '0'],
		cancelAllPending: [db.sql, { asOf: new Date().toISOString(), includeProcessing: true, confirmedCount: '0' }],
		consoleOverview: [db.sql, app.config],
		changeJob: [db.sql, 'retry', crypto.randomUUID()],
		countBulk: [db.sql, jobs.parseJobFilter(new URLSearchParams()), 'retry'],
		runBulk: [db.sql, jobs.parseJobFilter(new URLSearchParams()), 'retry', { count: 0, asOf: new Date().toISOString() }],
		countSelection: [db.sql, 'retry', [crypto.randomUUID()]],
		runSelection: [db.sql, 'retry', [crypto.randomUUID()]]
	};
	return byName[name] ?? [db.sql];
}

describe('a forged access value is refused by every console service', () => {
	const forgeries: Array<[string, () => access.ConsoleAccess]> = [
		['an object literal claiming an administrator', () => ({ user: admin.user, canAct: true })],
		["a copy of a genuine administrator's access", () => ({ ...access.consoleActor(admin.user) })],
		['a frozen copy', () => Object.freeze({ ...access.consoleActor(admin.user) })],
		['null', () => null as unknown as access.ConsoleAccess]
	];
	test('the services are found (the list is not empty by accident)', () => {
		expect(services.length).toBeGreaterThanOrEqual(35);
		for (const action of ACTIONS) expect(services.map((s) => s.name)).toContain(action);
	});
	for (const [label, forge] of forgeries) {
		test.each(services.map((s) => [s.label, s] as const))(`${label}: %s`, async (_label, service) => {
			const before = await snapshot();
			await expect(Promise.resolve().then(() => service.fn(forge(), ...argsFor(service.name)))).rejects.toBeInstanceOf(ForbiddenError);
			expect(await snapshot()).toBe(before);
		});
	}
});

describe("a read-only operator's access", () => {
	test.each([...ACTIONS])('%s refuses it and changes nothing', async (name) => {
		const service = services.find((s) => s.name === name)!;
		const before = await snapshot();
		await expect(Promise.resolve().then(() => service.fn(access.consoleReader(operator.user), ...argsFor(name)))).rejects.toThrow(access.READ_ONLY);
		expect(await snapshot()).toBe(before);
	});
	test.each(services.filter((s) => !ACTIONS.has(s.name)).map((s) => [s.label, s] as const))('%s lets it read', async (_label, service) => {
		const result = await Promise.resolve()
			.then(() => service.fn(access.consoleReader(operator.user), ...argsFor(service.name)))
			.catch((error: unknown) => error);
		expect(result).not.toBeInstanceOf(ForbiddenError);
	});
});

test('only administrators and operators get an access value at all', async () => {
	const plain = await signedInUser(app);
	expect(() => access.consoleReader(null)).toThrow(UnauthorizedError);
	expect(() => access.consoleReader(plain.user)).toThrow(ForbiddenError);
	expect(() => access.consoleActor(plain.user)).toThrow(ForbiddenError);
	expect(() => access.consoleActor(operator.user)).toThrow(access.READ_ONLY);
	expect(access.consoleReader(operator.user).canAct).toBe(false);
	expect(access.consoleActor(admin.user).canAct).toBe(true);
	// A role in a user's own editable metadata, or a claim the user made up, grants nothing.
	expect(() => access.consoleReader({ ...plain.user, claims: { ...plain.user.claims, app_metadata: { roles: ['admin'] } } })).toThrow(ForbiddenError);
});
