// The seed deployment guide's verification queries, run verbatim, plus enqueue_job's input checks.
import { describe, expect, test } from 'vitest';
import { rejection, useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('the seed guide checks (step 1.3 - 1.7)', () => {
	test('1.3: job_queue has all 15 of the seed columns', async () => {
		const rows = await q.sql<{ table_name: string; column_name: string; data_type: string }[]>`
			SELECT table_name, column_name, data_type
			FROM information_schema.columns
			WHERE table_name = 'job_queue'`;
		const columns = rows.map((r) => r.column_name);
		const seedColumns = [
			'id', 'job_type', 'payload', 'status', 'attempts', 'max_attempts', 'scheduled_at', 'started_at',
			'completed_at', 'error_message', 'error_details', 'created_by', 'priority', 'created_at', 'updated_at'
		];
		for (const column of seedColumns) expect(columns, column).toContain(column);
		// Each exactly once: the query has no schema filter, so a second job_queue would double them.
		expect(new Set(columns).size).toBe(columns.length);
		const types = Object.fromEntries(rows.map((r) => [r.column_name, r.data_type]));
		expect(types).toMatchObject({
			id: 'uuid',
			payload: 'jsonb',
			error_details: 'jsonb',
			attempts: 'integer',
			priority: 'integer',
			scheduled_at: 'timestamp with time zone',
			created_by: 'uuid'
		});
	});

	test('1.4: enqueue_job, claim_next_job and complete_job: exactly 3 rows (one signature each)', async () => {
		const rows = await q.sql<{ routine_name: string; routine_type: string }[]>`
			SELECT routine_name, routine_type
			FROM information_schema.routines
			WHERE routine_schema = 'public'
			AND routine_name IN ('enqueue_job', 'claim_next_job', 'complete_job')`;
		expect(rows).toHaveLength(3);
		expect(rows.map((r) => r.routine_name).sort()).toEqual(['claim_next_job', 'complete_job', 'enqueue_job']);
		expect(rows.every((r) => r.routine_type === 'FUNCTION')).toBe(true);
	});

	test('1.5: the three monitoring views are VIEWs', async () => {
		const rows = await q.sql<{ table_name: string; table_type: string }[]>`
			SELECT table_name, table_type
			FROM information_schema.tables
			WHERE table_schema = 'public'
			AND table_name IN ('queue_health', 'failed_jobs_recent', 'stuck_jobs')`;
		expect(rows.map((r) => [r.table_name, r.table_type]).sort()).toEqual([
			['failed_jobs_recent', 'VIEW'],
			['queue_health', 'VIEW'],
			['stuck_jobs', 'VIEW']
		]);
	});

	test('1.6: the two RLS policies, with the seed commands', async () => {
		const rows = await q.sql<{ policyname: string; cmd: string; tablename: string; roles: string[] }[]>`
			SELECT schemaname, tablename, policyname, permissive, roles, cmd
			FROM pg_policies
			WHERE tablename = 'job_queue'`;
		expect(rows.length).toBeGreaterThanOrEqual(2);
		const byName = new Map(rows.map((r) => [r.policyname, r]));
		expect(byName.get('Users can view their own jobs')?.cmd).toBe('SELECT');
		expect(byName.get('Service role has full access')?.cmd).toBe('ALL');
		const [rls] = await q.sql`select relrowsecurity from pg_class where oid = 'public.job_queue'::regclass`;
		expect(rls!.relrowsecurity).toBe(true);
	});

	test('1.7: enqueue_job as the seed calls it (5 args) returns a uuid; the cleanup removes it', async () => {
		const [row] = await q.sql<{ job_id: string }[]>`
			SELECT enqueue_job(
			'generate-image'::text,
			'{"test": true, "prompt": "Test prompt"}'::jsonb,
			0,
			NOW(),
			3
			) AS job_id`;
		expect(row!.job_id).toMatch(UUID);
		const [job] = await q.sql`select * from job_queue where id = ${row!.job_id}`;
		expect(job).toMatchObject({ job_type: 'generate-image', status: 'pending', attempts: 0, max_attempts: 3, priority: 0 });
		expect(job!.payload).toEqual({ test: true, prompt: 'Test prompt' });
		const deleted = await q.sql`DELETE FROM job_queue WHERE payload->>'test' = 'true'`;
		expect(deleted.count).toBe(1);
	});

	test('5.1 / 5.5: the 3-argument calls, and a 2-argument call, return uuids with the defaults', async () => {
		const [three] = await q.sql<{ id: string }[]>`
			SELECT enqueue_job(
			'generate-image',
			jsonb_build_object(
			'prompt', 'Test image',
			'model_id', 'black-forest-labs/flux-schnell'
			),
			0
			) AS id`;
		const [two] = await q.sql<{ id: string }[]>`SELECT enqueue_job('generate-image', '{"prompt": "two"}'::jsonb) AS id`;
		// The seed's DO block form (5.1), minus its sleep and its destination-less SELECT.
		await q.sql.unsafe(`DO $$
			DECLARE v_job_id UUID;
			BEGIN
			SELECT enqueue_job('generate-image', jsonb_build_object('prompt', 'in a DO block'), 0) INTO v_job_id;
			IF v_job_id IS NULL THEN RAISE EXCEPTION 'no job id'; END IF;
			END $$`);
		expect(three!.id).toMatch(UUID);
		expect(two!.id).toMatch(UUID);
		expect(two!.id).not.toBe(three!.id);
		const jobs = await q.sql`
			select id, max_attempts, priority, status, scheduled_at <= now() as due from job_queue order by created_at`;
		expect(jobs).toHaveLength(3);
		for (const job of jobs) expect(job).toMatchObject({ max_attempts: 3, priority: 0, status: 'pending', due: true });
	});
});

describe('the seed guide\'s hand-written updates work against the schema', () => {
	test('6.3: resetting stuck jobs to pending releases their lease, and the old holder is fenced out', async () => {
		const [stuck] = await q.sql<{ id: string }[]>`select enqueue_job('generate-image', '{}'::jsonb) as id`;
		const [claimed] = await q.sql`select * from claim_jobs('stalled-worker', 1, 30)`;
		expect(claimed!.id).toBe(stuck!.id);
		await q.sql`update job_queue set locked_until = now() - interval '1 minute' where id = ${stuck!.id}`;
		const reset = await q.sql`
			UPDATE job_queue
			SET
			status = 'pending',
			started_at = NULL,
			attempts = attempts, -- Don't increment
			updated_at = NOW()
			WHERE id IN (SELECT id FROM stuck_jobs)`;
		expect(reset.count).toBe(1);
		const [row] = await q.sql`select status, attempts, locked_by, locked_until from job_queue where id = ${stuck!.id}`;
		expect(row).toEqual({ status: 'pending', attempts: 1, locked_by: null, locked_until: null });
		const [late] = await q.sql`select complete_job(${stuck!.id}, true, null, null, 'stalled-worker', 1) as ok`;
		expect(late!.ok).toBe(false);
		const [again] = await q.sql`select * from claim_next_job('rescuer')`;
		expect(again).toMatchObject({ id: stuck!.id, attempts: 2, locked_by: 'rescuer' });
	});

	test('7.3: cancelling every pending and running job finishes them (so purge can remove them later)', async () => {
		await q.sql`select enqueue_job('generate-image', '{}'::jsonb) from generate_series(1, 3)`;
		await q.sql`select * from claim_jobs('w', 2, 30)`;
		const cancelled = await q.sql`
			UPDATE job_queue
			SET status = 'cancelled', updated_at = NOW()
			WHERE status IN ('pending', 'processing')`;
		expect(cancelled.count).toBe(3);
		const rows = await q.sql`select status, locked_by, completed_at is not null as finished from job_queue`;
		expect(rows).toEqual(Array(3).fill({ status: 'cancelled', locked_by: null, finished: true }));
		await q.sql`update job_queue set completed_at = now() - interval '31 days'`;
		const [purged] = await q.sql`select purge_finished_jobs(interval '30 days', 100) as n`;
		expect(purged!.n).toBe(3);
	});
});

describe('enqueue_job rejects bad input clearly and writes nothing', () => {
	const cases: Array<[string, string, RegExp]> = [
		['an empty job type', `select enqueue_job('', '{}'::jsonb)`, /job_type must not be empty/],
		['a blank job type', `select enqueue_job('   ', '{}'::jsonb)`, /job_type must not be empty/],
		['a null job type', `select enqueue_job(null, '{}'::jsonb)`, /job_type must not be empty/],
		['an array payload', `select enqueue_job('t', '[1, 2]'::jsonb)`, /payload must be a JSON object, not array/],
		['a string payload', `select enqueue_job('t', '"hello"'::jsonb)`, /payload must be a JSON object, not string/],
		['a JSON null payload', `select enqueue_job('t', 'null'::jsonb)`, /payload must be a JSON object, not null/],
		['an SQL null payload', `select enqueue_job('t', null::jsonb)`, /payload must be a JSON object, not null/],
		['max_attempts 0', `select enqueue_job('t', '{}'::jsonb, 0, now(), 0)`, /max_attempts must be between 1 and 100, not 0/],
		['max_attempts -1', `select enqueue_job('t', '{}'::jsonb, 0, now(), -1)`, /max_attempts must be between 1 and 100, not -1/]
	];

	test.each(cases)('%s', async (_name, query, message) => {
		await q.sql`select enqueue_job('existing', '{}'::jsonb)`;
		const before = await q.sql`select to_jsonb(j) as row from job_queue j order by id`;
		const error = await rejection(q.sql.unsafe(query));
		expect(error.message).toMatch(message);
		expect(error.code).toBe('22023');
		const after = await q.sql`select to_jsonb(j) as row from job_queue j order by id`;
		expect(after).toEqual(before);
		expect(after).toHaveLength(1);
	});

	test('the table itself refuses the same rows when inserted directly (named constraints)', async () => {
		const attempts: Array<[string, string]> = [
			[`insert into job_queue (job_type) values ('')`, 'job_type_not_empty'],
			[`insert into job_queue (job_type, payload) values ('t', '[]')`, 'payload_is_object'],
			[`insert into job_queue (job_type, max_attempts) values ('t', 0)`, 'max_attempts_positive'],
			[`insert into job_queue (job_type, status) values ('t', 'done')`, 'status_valid'],
			[`insert into job_queue (job_type, locked_by) values ('t', 'w')`, 'lease_only_while_processing']
		];
		for (const [query, constraint] of attempts) {
			const error = await rejection(q.sql.unsafe(query));
			expect(error.message, query).toContain(`"${constraint}"`);
		}
		const [{ count }] = (await q.sql`select count(*)::int as count from job_queue`) as unknown as [{ count: number }];
		expect(count).toBe(0);
	});
});
