// CSV exports: escaping (RFC 4180 and spreadsheet formulas), and the three downloads read through
// the real endpoint against a real database, each recorded in the audit log.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { csvCell, csvRow } from '$lib/server/console/export';
import type { Services } from '$lib/server/runtime';
import { GET } from '$routes/admin/export/[name].csv/+server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { call, signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';

/** A strict RFC 4180 reader, to check that what we write reads back to what we meant. */
function parseCsv(text: string): string[][] {
	const rows: string[][] = [];
	let row: string[] = [];
	let cell = '';
	let quoted = false;
	for (let i = 0; i < text.length; i++) {
		const c = text[i]!;
		if (quoted) {
			if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
			else if (c === '"') quoted = false;
			else cell += c;
		} else if (c === '"') quoted = true;
		else if (c === ',') row.push(cell), (cell = '');
		else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
		else cell += c;
	}
	expect(cell).toBe(''); // every record ends with CRLF
	return rows;
}

describe('csvCell', () => {
	test.each([
		[null, ''],
		[undefined, ''],
		['plain', 'plain'],
		['a,b', '"a,b"'],
		['say "hi"', '"say ""hi"""'],
		['two\nlines', '"two\nlines"'],
		['cr\rlf', '"cr\rlf"'],
		['=1+2', "'=1+2"],
		['+SUM(A1)', "'+SUM(A1)"],
		['-2+3+cmd|/C calc', "'-2+3+cmd|/C calc"],
		['@SUM(A1)', "'@SUM(A1)"],
		['\tTAB', "'\tTAB"],
		['=HYPERLINK("http://x","a,b")', `"'=HYPERLINK(""http://x"",""a,b"")"`],
		['a=b', 'a=b'],
		['-12.5', '-12.5'], // a number as text is not a formula
		[-3, '-3'],
		[42n, '42'],
		[true, 'true'],
		[new Date('2025-03-01T14:05:09.123Z'), '2025-03-01T14:05:09.123Z'],
		[{ prompt: 'x, "y"' }, '"{""prompt"":""x, \\""y\\""""}"']
	])('case %# -> %s', (value, expected) => {
		expect(csvCell(value)).toBe(expected);
	});

	test('a row joins cells with commas and ends with CRLF', () => {
		expect(csvRow(['a', 1, null, 'b,c'])).toBe('a,1,,"b,c"\r\n');
	});
});

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from job_queue`;
	await db.sql`delete from admin_audit_log`;
});

async function download(name: string) {
	const response = await call(GET, services, { path: `/admin/export/${name}.csv`, params: { name }, user: admin.user });
	return { response, text: response.status === 200 ? await response.text() : '' };
}

const nasty = '=HYPERLINK("http://evil.example","click"), then\n"quoted" and more';

test('failed jobs: failed_jobs_recent as a CSV attachment, escaped and defused', async () => {
	await db.sql`
		insert into job_queue (job_type, status, payload, error_message, error_details, attempts, completed_at, created_by)
		values ('generate-image', 'failed', ${db.sql.json({ generation_id: 'g-1', prompt: '+1, "two"' })}, ${nasty},
		        ${db.sql.json({ code: 'E1' })}, 3, now() - interval '1 hour', ${admin.id}),
		       ('generate-image', 'failed', '{}', '@admin: plain failure', null, 1, now() - interval '2 hours', null),
		       ('generate-image', 'failed', '{}', 'too old for the view', null, 1, now() - interval '2 days', null),
		       ('generate-image', 'completed', '{}', null, null, 1, now(), null)`;

	const { response, text } = await download('failed-jobs');
	expect(response.status).toBe(200);
	expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
	expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="failed_jobs-\d{8}T\d{4}Z\.csv"$/);
	expect(response.headers.get('cache-control')).toBe('no-store');

	const [header, ...rows] = parseCsv(text);
	// Every column of the view, as COPY (SELECT * FROM failed_jobs_recent) TO ... CSV HEADER has them.
	const viewColumns = await db.sql`select * from failed_jobs_recent limit 0`;
	expect(header).toEqual(viewColumns.columns.map((c) => c.name));
	expect(rows).toHaveLength(2);
	const first = Object.fromEntries(header!.map((name, i) => [name, rows[0]![i]]));
	expect(first.error_message).toBe(`'${nasty}`);
	expect(JSON.parse(first.payload!)).toEqual({ generation_id: 'g-1', prompt: '+1, "two"' });
	expect(JSON.parse(first.error_details!)).toEqual({ code: 'E1' });
	expect(first.attempts).toBe('3');
	expect(first.created_by).toBe(admin.id);
	expect(new Date(first.completed_at!).getTime()).toBeGreaterThan(Date.now() - 2 * 3600_000);
	const second = Object.fromEntries(header!.map((name, i) => [name, rows[1]![i]]));
	expect(second.error_message).toBe("'@admin: plain failure");
	expect(second.error_details).toBe('');

	const [entry] = await db.sql`select action, target, affected_rows, details, actor_email from admin_audit_log`;
	expect(entry).toMatchObject({ action: 'export.csv', target: 'failed-jobs', affected_rows: 2, actor_email: admin.email });
	expect(entry!.details).toMatchObject({ complete: true });
});

test('queue health: the queue_health view, one row per type and status', async () => {
	await db.sql`
		insert into job_queue (job_type, status, started_at, completed_at)
		values ('noop', 'completed', now() - interval '4 seconds', now()),
		       ('noop', 'completed', now() - interval '2 seconds', now()),
		       ('noop', 'pending', null, null),
		       ('alpha', 'failed', now() - interval '1 second', now())`;
	const { response, text } = await download('queue-health');
	expect(response.headers.get('content-disposition')).toMatch(/filename="queue_health-/);
	const [header, ...rows] = parseCsv(text);
	expect(header).toEqual(['job_type', 'status', 'count', 'avg_duration_seconds', 'oldest_created_at', 'newest_created_at']);
	expect(rows.map((r) => r.slice(0, 3))).toEqual([
		['alpha', 'failed', '1'],
		['noop', 'completed', '2'],
		['noop', 'pending', '1']
	]);
	expect(Number(rows[1]![3])).toBeCloseTo(3, 1);
	expect(rows[2]![3]).toBe('');
	expect((await db.sql`select affected_rows from admin_audit_log where target = 'queue-health'`)[0]!.affected_rows).toBe(3);
});

test('hourly throughput: the seed 6.5 query over the last 24 hours, newest hour first', async () => {
	await db.sql`
		insert into job_queue (job_type, status, created_at, completed_at)
		values ('noop', 'completed', date_trunc('hour', now()) - interval '2 hours' + interval '5 minutes',
		                           date_trunc('hour', now()) - interval '2 hours' + interval '5 minutes 10 seconds'),
		       ('noop', 'failed',    date_trunc('hour', now()) - interval '2 hours' + interval '9 minutes',
		                           date_trunc('hour', now()) - interval '2 hours' + interval '9 minutes 30 seconds'),
		       ('noop', 'pending',   now(), null),
		       ('noop', 'completed', now() - interval '3 days', now() - interval '3 days')`;
	const { text } = await download('throughput');
	const [header, ...rows] = parseCsv(text);
	expect(header).toEqual(['hour', 'total_jobs', 'completed', 'failed', 'avg_duration']);
	expect(rows).toHaveLength(2);
	expect(rows[0]!.slice(1, 4)).toEqual(['1', '0', '0']); // this hour: one pending
	expect(rows[1]!.slice(1, 4)).toEqual(['2', '1', '1']);
	expect(Number(rows[1]![4])).toBeCloseTo(20, 3);
	expect(new Date(rows[1]![0]!).getUTCMinutes()).toBe(0);
});

test('generation costs: every costed generation of the last 30 days, newest first, with user and model; audited', async () => {
	const [user] = await db.sql<{ id: string }[]>`insert into auth.users (email) values ('=csv-costs@example.test') returning id`;
	await db.sql`
		insert into image_generations (user_id, prompt, model_id, width, height, seed, status, image_path, predict_time_seconds, cost_usd, created_at)
		values (${user!.id}, 'p', 'black-forest-labs/flux-dev', 512, 512, 1, 'completed', 'x', 2, 0.05, now() - interval '1 hour'),
		       (${user!.id}, 'p', 'local/preview', 512, 512, 1, 'completed', 'x', 1, 0, now()),
		       (${user!.id}, 'p', 'local/preview', 512, 512, 1, 'completed', 'x', 1, null, now()),
		       (${user!.id}, 'p', 'local/preview', 512, 512, 1, 'completed', 'x', 1, 9, now() - interval '40 days')`;
	const { text } = await download('costs');
	const [header, ...rows] = parseCsv(text);
	expect(header).toEqual(['day', 'generation_id', 'user_email', 'user_id', 'model_id', 'predict_time_seconds', 'cost_usd']);
	expect(rows.map((r) => [r[2], r[4], Number(r[6])])).toEqual([
		["'=csv-costs@example.test", 'local/preview', 0],
		["'=csv-costs@example.test", 'black-forest-labs/flux-dev', 0.05]
	]);
	const [entry] = await db.sql`select target, affected_rows from admin_audit_log order by id desc limit 1`;
	expect(entry).toMatchObject({ target: 'costs', affected_rows: 2 });
});

test('an empty export still has its header', async () => {
	const { text } = await download('failed-jobs');
	expect(parseCsv(text)).toHaveLength(1);
	expect((await db.sql`select affected_rows from admin_audit_log`)[0]!.affected_rows).toBe(0);
});

test('an unknown export is a 404 and is not audited', async () => {
	for (const name of ['users', 'constructor', '__proto__']) {
		const { response } = await download(name);
		expect(response.status).toBe(404);
	}
	expect(await db.sql`select * from admin_audit_log`).toHaveLength(0);
});

describe('jobs: the job list as filtered', () => {
	const jobsCsv = async (query: string) => {
		const response = await call(GET, services, { path: `/admin/export/jobs.csv?${query}`, params: { name: 'jobs' }, user: admin.user });
		return { response, text: response.status === 200 ? await response.text() : await response.text() };
	};
	const records = (text: string) => {
		const [header, ...rows] = parseCsv(text);
		return rows.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i]])));
	};

	test('the same filter as the list, q included: matching jobs newest first, with prompt and last error; audited with the filter', async () => {
		await db.sql`delete from image_generations`;
		const [started] = await db.sql`select public.start_generation(${admin.id}, '=cmd|a lighthouse, "quoted"', 'local/preview', 512, 512, 7) as result`;
		const { job_id: jobId, generation_id: generationId } = started!.result;
		await db.sql`update job_queue set status = 'failed', completed_at = now(), error_message = 'lighthouse: boom' where id = ${jobId}`;
		await db.sql`insert into job_queue (job_type, status, error_message) values ('noop', 'failed', 'unrelated'), ('noop', 'pending', null)`;

		const { response, text } = await jobsCsv('status=failed&q=lighthouse');
		expect(response.status).toBe(200);
		expect(response.headers.get('content-disposition')).toMatch(/filename="jobs-\d{8}T\d{4}Z\.csv"/);
		const rows = records(text);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ id: jobId, status: 'failed', generation_id: generationId, prompt: `'=cmd|a lighthouse, "quoted"`, error_message: 'lighthouse: boom', model_id: 'local/preview', user_email: admin.email });
		const [entry] = await db.sql`select target, affected_rows, details from admin_audit_log where action = 'export.csv'`;
		expect(entry).toMatchObject({ target: 'jobs?status=failed&q=lighthouse', affected_rows: 1, details: { complete: true, filter: { status: 'failed', q: 'lighthouse' } } });

		expect(records((await jobsCsv('')).text)).toHaveLength(3);
	});

	test('more rows than one cursor batch are all streamed', async () => {
		await db.sql`insert into job_queue (job_type, status) select 'noop', 'completed' from generate_series(1, 1234)`;
		const rows = records((await jobsCsv('type=noop&status=completed')).text);
		expect(rows).toHaveLength(1234);
		expect(new Set(rows.map((r) => r.id)).size).toBe(1234);
	});

	test.each([
		['status=exploded', /Unknown status/],
		['q=ab', /at least 3 letters/],
		[`q=${'x'.repeat(100_000)}`, /longer than 200/],
		['from=2026-02-30', /not a date/],
		['user=not-an-address', /neither an email address nor a user id/]
	])('a bad filter (%s) is a 400 with its message, and nothing is audited', async (query, message) => {
		const { response, text } = await jobsCsv(query);
		expect(response.status).toBe(400);
		expect(JSON.parse(text).error).toMatch(message);
		expect(await db.sql`select * from admin_audit_log`).toHaveLength(0);
	});
});
