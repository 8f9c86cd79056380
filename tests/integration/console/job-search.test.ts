// The job list's search box against a real database: a generation's prompt, an owner's e-mail, an
// error, another job type's payload, and ids or their start; % and _ literal, any case; too short a
// search refused; and the same answers when a word is so common that the list tests row by row.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { CANDIDATE_LIMIT, idRangeOf, resolveSearch } from '$lib/server/console/job-search';
import type { Services } from '$lib/server/runtime';
import { load } from '$routes/admin/jobs/+page.server';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { signedInUser } from '../../support/routes';
import { testServices } from '../../support/services';
import { insertJob, loadPage } from '../../support/console-jobs';

let db: TestDatabase;
let services: Services;
let admin: Awaited<ReturnType<typeof signedInUser>>;
let alice: Awaited<ReturnType<typeof signedInUser>>;
let bob: Awaited<ReturnType<typeof signedInUser>>;

beforeAll(async () => {
	db = await createTestDatabase();
	services = await testServices(db);
	admin = await signedInUser(services, { admin: true });
	alice = await signedInUser(services);
	bob = await signedInUser(services);
	await db.sql`update auth.users set email = 'Alice.Liddell@Wonder.example' where id = ${alice.id}`;
	await db.sql`update auth.users set email = 'bob_100%@example.test' where id = ${bob.id}`;
});
afterAll(() => db.drop());
beforeEach(async () => {
	await db.sql`delete from image_generations`;
	await db.sql`delete from job_queue`;
});

interface Page {
	page: { jobs: { id: string; prompt: string | null }[]; next: string | null };
	problem: { error: string; field: string } | null;
}
const list = (q: string, extra = '') => loadPage<Page>(load, services, admin.user, `/admin/jobs?q=${encodeURIComponent(q)}${extra}`);
const found = async (q: string, extra = '') => {
	const answer = await list(q, extra);
	expect(answer.problem).toBeNull();
	return answer.page.jobs.map((job) => job.id).sort();
};

/** A generation and its job, as start_generation makes them (without its rate limit). */
async function generation(userId: string, prompt: string, status = 'queued') {
	const [started] = await db.sql<{ result: { generation_id: string; job_id: string } }[]>`
		select public.start_generation(${userId}, ${prompt}, 'local/preview', 512, 512, 7) as result`;
	if (status !== 'queued') await db.sql`update job_queue set status = ${status}, completed_at = now() where id = ${started!.result.job_id}`;
	return started!.result;
}

describe('what it finds', () => {
	let lighthouse: { generation_id: string; job_id: string };
	let harbour: { generation_id: string; job_id: string };
	let failed: string;
	let other: string;
	beforeEach(async () => {
		await db.sql`delete from user_limits`;
		lighthouse = await generation(alice.id, 'A Lighthouse in a storm, 100% dramatic');
		harbour = await generation(bob.id, 'a quiet harbour at dusk');
		failed = await insertJob(db.sql, { status: 'failed', error_message: 'Replicate answered 502: bad_gateway', created_by: bob.id });
		other = await insertJob(db.sql, { job_type: 'cleanup', payload: { note: 'sweep the thumbnails_cache' } });
	});

	test('the prompt of a job\'s generation, by any part of it, in any case; the list shows the prompt', async () => {
		expect(await found('lighthouse')).toEqual([lighthouse.job_id]);
		expect(await found('IN A STORM')).toEqual([lighthouse.job_id]);
		expect(await found('harb')).toEqual([harbour.job_id]);
		const page = await list('lighthouse');
		expect(page.page.jobs[0]!.prompt).toBe('A Lighthouse in a storm, 100% dramatic');
	});

	test("the owner's e-mail by any part of it", async () => {
		expect(await found('liddell@wonder')).toEqual([lighthouse.job_id]);
		expect(await found('example.test')).toEqual([harbour.job_id, failed].sort());
	});

	test('the error message; never a payload\'s text (no index could serve it without a write per claim)', async () => {
		expect(await found('bad_gateway')).toEqual([failed]);
		expect(await found('thumbnails_cache')).toEqual([]);
		expect(await found(other)).toEqual([other]);
	});

	test('% and _ are literal characters, not wildcards', async () => {
		expect(await found('100% dram')).toEqual([lighthouse.job_id]);
		expect(await found('100%')).toEqual([lighthouse.job_id, harbour.job_id, failed].sort()); // the prompt, and bob's address
		expect(await found('bob_100%')).toEqual([harbour.job_id, failed].sort());
		expect(await found('bobX100')).toEqual([]);
		expect(await found('bad%gateway')).toEqual([]);
	});

	test("a job's id, a generation's id, or the first 8 or more digits of either", async () => {
		expect(await found(lighthouse.job_id)).toEqual([lighthouse.job_id]);
		expect(await found(harbour.generation_id.toUpperCase())).toEqual([harbour.job_id]);
		expect(await found(failed.slice(0, 8))).toEqual([failed]);
		expect(await found(lighthouse.generation_id.slice(0, 13))).toEqual([lighthouse.job_id]);
	});

	test('combined with the other filters', async () => {
		expect(await found('example.test', '&status=failed')).toEqual([failed]);
		expect(await found('lighthouse', '&status=failed')).toEqual([]);
	});

	test('a deleted generation takes its prompt with it; its job is still found by its id', async () => {
		await db.sql`delete from image_generations where id = ${lighthouse.generation_id}`;
		expect(await found('lighthouse')).toEqual([]);
		expect(await found(lighthouse.job_id)).toEqual([lighthouse.job_id]);
	});
});

describe('what it refuses', () => {
	test.each(['a', 'ab', '  ab  ', '...', '%%', '_%_', 'a b c'])('%j: fewer than three letters or digits in a row is refused, naming the field', async (q) => {
		const answer = await list(q);
		expect(answer.problem).toMatchObject({ field: 'q', error: expect.stringMatching(/at least 3 letters or digits/) });
		expect(answer.page.jobs).toEqual([]);
	});

	test('201 characters are refused; 200 are searched', async () => {
		expect((await list('x'.repeat(201))).problem).toMatchObject({ field: 'q', error: expect.stringMatching(/longer than 200/) });
		expect((await list('x'.repeat(200))).problem).toBeNull();
	});

	test('id ranges: only 8 to 32 hex digits count as the start of an id', () => {
		expect(idRangeOf('deadbeef')).toEqual({ lo: 'deadbeef-0000-0000-0000-000000000000', hi: 'deadbeef-ffff-ffff-ffff-ffffffffffff' });
		expect(idRangeOf('cafe')).toBeNull(); // a word, not an id
		expect(idRangeOf('deadbeefz')).toBeNull();
		expect(idRangeOf('DEADBEEF-12')).toEqual({ lo: 'deadbeef-1200-0000-0000-000000000000', hi: 'deadbeef-12ff-ffff-ffff-ffffffffffff' });
	});
});

describe('a word too common to look up', () => {
	test(`more than ${CANDIDATE_LIMIT} matching prompts: the list tests row by row and finds the same jobs, page after page`, async () => {
		const rows = CANDIDATE_LIMIT + 150;
		// Generations and their jobs in bulk (start_generation would stop at the rate limit).
		await db.sql`
			with jobs as (
				insert into job_queue (job_type, payload, status, created_by, created_at)
				select 'generate-image', jsonb_build_object('generation_id', gen_random_uuid(), 'model_id', 'local/preview'),
				       case when i % 10 = 0 then 'failed' else 'completed' end, ${alice.id}, now() - make_interval(secs => i)
				from generate_series(1, ${rows}) as i
				returning id, (payload ->> 'generation_id')::uuid as generation_id
			)
			insert into image_generations (id, user_id, prompt, model_id, width, height, seed, status, job_id, image_path)
			select generation_id, ${alice.id}, 'an orchard in bloom', 'local/preview', 512, 512, 1, 'failed', id, null from jobs`;
		const lonely = await generation(bob.id, 'an orchard, alone');
		expect((await resolveSearch(db.sql, 'orchard')).ids).toBeNull(); // too common: tested per row
		expect((await resolveSearch(db.sql, 'alone')).ids).toEqual([lonely.job_id]); // rare: looked up

		const seen = new Set<string>();
		let query = `/admin/jobs?q=orchard&status=failed`;
		for (;;) {
			const page = await loadPage<Page>(load, services, admin.user, query);
			for (const job of page.page.jobs) seen.add(job.id);
			if (!page.page.next) break;
			query = `/admin/jobs?q=orchard&status=failed&cursor=${page.page.next}`;
		}
		const expected = await db.sql<{ id: string }[]>`select id from job_queue where status = 'failed' and job_type = 'generate-image'`;
		expect([...seen].sort()).toEqual(expected.map((r) => r.id).sort());
		expect(await found('alone')).toEqual([lonely.job_id]);
	});
});
