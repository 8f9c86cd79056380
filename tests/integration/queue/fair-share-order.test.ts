// The fair-share claim's order is a contract (0025's header; the console replays it to show queue
// positions): claim_jobs must hand out exactly what a brute-force model of that rule hands out, claim
// after claim, on a mixed queue: several lanes and the system lane, two priorities, a lane appearing
// mid-way, jobs not yet due, a paused type, a worker's type filter, retries, batches of every size,
// and (0032) concurrency keys with limits that change: a key's room counts down as its jobs are taken,
// a job past it is passed over and its lane gives its next job instead. With backlogs (0037), bursts
// of 40 jobs of one key pile up at the front of lanes, so claims read around a closed key's backlog
// (the window of the plain order is all closed) instead of through it.
import { expect, test } from 'vitest';
import { claimJobs, pauseJobType, resumeJobType } from '$lib/server/queue';
import { createUser } from '../../support/db';
import { useQueueDatabase } from '../../support/queue';

const q = useQueueDatabase();

const SYSTEM = '00000000-0000-0000-0000-000000000000';
const PAST = Date.parse('2020-01-01T00:00:00Z');
const NOT_DUE = '2999-01-01T00:00:00.000Z';

interface ModelJob {
	id: string;
	lane: string;
	type: string;
	priority: number;
	scheduledAt: string;
	status: 'pending' | 'processing';
	claimCount: number;
	key: string | null;
}

/** 0025's rule, written as plainly as it reads: passes, top priority, lanes by (served_seq, lane). */
class Model {
	jobs = new Map<string, ModelJob>();
	lanes = new Map<string, number>();
	paused = new Set<string>();
	/** Free slots per limited key (set_concurrency_limit); a key not here has no limit. */
	free = new Map<string, number>();
	private seq = 0;

	/** What the claim reads once: free slots less the key's claimed jobs still holding it. */
	rooms(): Map<string, number> {
		const rooms = new Map(this.free);
		for (const j of this.jobs.values()) {
			if (j.status === 'processing' && j.key !== null && rooms.has(j.key)) rooms.set(j.key, rooms.get(j.key)! - 1);
		}
		return rooms;
	}

	pend(job: ModelJob): void {
		this.jobs.set(job.id, job);
		if (!this.lanes.has(job.lane)) this.lanes.set(job.lane, 0);
	}

	turnOrder(): string[] {
		return [...this.lanes].sort(([la, sa], [lb, sb]) => sa - sb || cmp(la, lb)).map(([lane]) => lane);
	}

	claim(limit: number, types: string[] | null): string[] {
		const due = (j: ModelJob) =>
			j.status === 'pending' && j.scheduledAt < NOT_DUE && !this.paused.has(j.type) && (types === null || types.includes(j.type));
		const byAge = (a: ModelJob, b: ModelJob) => cmp(a.scheduledAt, b.scheduledAt) || cmp(a.id, b.id);
		const taken: string[] = [];
		const rooms = this.rooms();
		const open = (j: ModelJob) => j.key === null || !rooms.has(j.key) || rooms.get(j.key)! > 0;
		const take = (j: ModelJob) => {
			j.status = 'processing';
			j.claimCount++;
			taken.push(j.id);
			if (j.key !== null && rooms.has(j.key)) rooms.set(j.key, rooms.get(j.key)! - 1);
		};
		/** The first n of these (oldest first) that are open, counting the room down as each is taken. */
		const takeOpen = (jobs: ModelJob[], n: number) => {
			let count = 0;
			for (const j of jobs) {
				if (count >= n) break;
				if (open(j)) {
					take(j);
					count++;
				}
			}
			return count;
		};
		let share = 1;
		let prevTop: number | undefined;
		let top: number | undefined;
		passes: for (;;) {
			const dueJobs = [...this.jobs.values()].filter(due);
			const openJobs = dueJobs.filter(open);
			top = openJobs.length ? Math.max(...openJobs.map((j) => j.priority)) : undefined;
			if (top === undefined) break;
			if (top !== prevTop) [share, prevTop] = [1, top];
			let yielded = 0;
			for (const lane of this.turnOrder()) {
				const head = dueJobs.filter((j) => j.lane === lane && j.priority === top && j.status === 'pending').sort(byAge);
				if (takeOpen(head, Math.min(share, limit - taken.length)) > 0) {
					this.lanes.set(lane, ++this.seq);
					yielded++;
				} else if (![...this.jobs.values()].some((j) => j.lane === lane && j.status === 'pending')) {
					this.lanes.delete(lane);
				}
				if (taken.length >= limit) break passes;
			}
			if (yielded === 0) break;
			share = Math.ceil((limit - taken.length) / yielded);
		}
		if (top !== undefined && taken.length < limit) {
			const rest = [...this.jobs.values()].filter(due).sort((a, b) => b.priority - a.priority || byAge(a, b));
			takeOpen(rest, limit - taken.length);
		}
		return taken;
	}
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Deterministic pseudo-random numbers (mulberry32), so a failure replays. */
function random(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

async function run(seed: number, steps: number, options: { backlogs?: boolean } = {}) {
	const rnd = random(seed);
	const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
	const model = new Model();
	const users = [await createUser(q.sql), await createUser(q.sql), await createUser(q.sql)].map((u) => u.id);
	const late = (await createUser(q.sql)).id; // its lane appears only in the second half
	// The keys start without limits, as the model does (an earlier seed may have left some).
	await q.sql`select set_concurrency_limit(k, null) from unnest(array['k1', 'k2']) as k`;
	let clock = 0;
	const seen = { claims: 0, batches: 0, notDue: 0, madeDue: 0, paused: 0, filtered: 0, retried: 0, lateLane: 0, taken: 0, keyed: 0, passedOver: 0, limitsChanged: 0,
		...(options.backlogs ? { aroundBacklog: 0 } : {}) };

	async function enqueue(lane: string, count: number) {
		const sameTime = rnd() < 0.3; // equal scheduled_at: id breaks the tie
		// A backlog: one key's burst, more than a claim's window of the plain order (its limit + 16).
		const burstKey = options.backlogs && rnd() < 0.3 ? pick(['k1', 'k2']) : undefined;
		if (burstKey) count = 40;
		const rows = Array.from({ length: count }, () => {
			const notDue = rnd() < 0.15;
			if (!sameTime) clock++;
			return {
				t: pick(['a', 'a', 'a', 'b', 'paused']),
				c: lane === SYSTEM ? null : lane,
				p: pick([0, 0, 0, 5]),
				s: notDue ? NOT_DUE : new Date(PAST + clock * 1000).toISOString(),
				k: burstKey ?? pick([null, null, 'k1', 'k1', 'k2'])
			};
		});
		const inserted = await q.sql<{ id: string; job_type: string; priority: number; scheduled_at: Date; concurrency_key: string | null }[]>`
			insert into job_queue (job_type, created_by, priority, scheduled_at, concurrency_key)
			select x.t, x.c, x.p, x.s, x.k from jsonb_to_recordset(${q.sql.json(rows)}) as x(t text, c uuid, p int, s timestamptz, k text)
			returning id, job_type, priority, scheduled_at, concurrency_key`;
		for (const r of inserted) {
			const scheduledAt = r.scheduled_at.toISOString();
			if (scheduledAt === NOT_DUE) seen.notDue++;
			model.pend({ id: r.id, lane, type: r.job_type, priority: r.priority, scheduledAt, status: 'pending', claimCount: 0, key: r.concurrency_key });
		}
	}

	for (let step = 0; step < steps; step++) {
		const lanes = [SYSTEM, ...users, ...(step >= steps / 2 ? [late] : [])];
		const action = rnd();
		if (action < 0.3) {
			const lane = pick(lanes);
			if (lane === late) seen.lateLane++;
			await enqueue(lane, pick([1, 1, 2, 4, 9]));
		} else if (action < 0.7) {
			const limit = pick([1, 1, 1, 1, 2, 3, 7, 20]);
			const types = rnd() < 0.2 ? ['a', 'paused'] : null;
			const pendingBefore = [...model.jobs.values()].filter((j) => j.status === 'pending').length;
			const rooms = model.rooms();
			const closedDue = [...model.jobs.values()].some(
				(j) => j.status === 'pending' && j.scheduledAt < NOT_DUE && j.key !== null && (rooms.get(j.key) ?? 1) <= 0);
			const expected = model.claim(limit, types);
			if (closedDue && expected.length > 0) seen.passedOver++;
			const closedBacklog = [...model.jobs.values()].filter(
				(j) => j.status === 'pending' && j.scheduledAt < NOT_DUE && j.key !== null && (rooms.get(j.key) ?? 1) <= 0).length;
			if (options.backlogs && closedBacklog > 40 && expected.length > 0) seen.aroundBacklog!++;
			if (expected.some((id) => model.jobs.get(id)!.key !== null)) seen.keyed++;
			const got = await claimJobs(q.sql, { workerId: 'model', limit, jobTypes: types });
			const ids = got.map((j) => j.id);
			// One claim is one set; with limit 1 the sequence of claims is the order itself.
			expect([...ids].sort(), `seed ${seed} step ${step}: claim(${limit}, ${types}) of ${pendingBefore} pending`).toEqual([...expected].sort());
			for (const j of got) expect(j.claim_count).toBe(model.jobs.get(j.id)!.claimCount);
			seen.claims++;
			if (limit > 1 && ids.length > 1) seen.batches++;
			if (types) seen.filtered++;
			seen.taken += ids.length;
		} else if (action < 0.77) {
			// A key's free slots change (a slot taken or freed, a limit changed in the console), or it loses its limit.
			const key = pick(['k1', 'k2']);
			const free = pick([0, 0, 1, 1, 2, 3, null]);
			await q.sql`select set_concurrency_limit(${key}, ${free}::integer)`;
			if (free === null) model.free.delete(key);
			else model.free.set(key, free);
			seen.limitsChanged++;
		} else if (action < 0.87) {
			const waiting = [...model.jobs.values()].filter((j) => j.status === 'pending' && j.scheduledAt === NOT_DUE);
			if (waiting.length === 0) continue;
			const job = pick(waiting);
			job.scheduledAt = new Date(PAST + ++clock * 1000).toISOString();
			await q.sql`update job_queue set scheduled_at = ${job.scheduledAt}::timestamptz where id = ${job.id}`;
			seen.madeDue++;
		} else if (action < 0.93) {
			if (model.paused.has('paused')) {
				await resumeJobType(q.sql, 'paused');
				model.paused.delete('paused');
			} else {
				await pauseJobType(q.sql, 'paused');
				model.paused.add('paused');
				seen.paused++;
			}
		} else {
			// A failed attempt with retries left: back to pending (its lane row with it), then parked
			// far ahead so the model needs no clock; a later step makes it due again.
			const held = [...model.jobs.values()].filter((j) => j.status === 'processing' && j.claimCount < 3);
			if (held.length === 0) continue;
			const job = pick(held);
			await q.sql`select complete_job(${job.id}, false, 'boom', null, 'model', ${job.claimCount}, false, 0)`;
			const [back] = await q.sql<{ status: string }[]>`
				update job_queue set scheduled_at = ${NOT_DUE}::timestamptz where id = ${job.id} returning status`;
			expect(back!.status).toBe('pending');
			job.status = 'pending';
			job.scheduledAt = NOT_DUE;
			model.pend(job);
			seen.retried++;
		}
		// The turn table itself: same lanes, same line, same never-served ones (served_seq values may differ).
		const rows = await q.sql<{ lane: string; fresh: boolean }[]>`
			select lane::text, served_seq = 0 as fresh from job_queue_lanes order by served_seq, lane`;
		expect(rows.map((r) => r.lane), `seed ${seed} step ${step}: turn order`).toEqual(model.turnOrder());
		expect(rows.map((r) => r.fresh)).toEqual(model.turnOrder().map((lane) => model.lanes.get(lane) === 0));
	}
	return seen;
}

test.each([1, 2, 3, 4])('claim order equals the brute-force model of the rule (seed %i)', async (seed) => {
	const seen = await run(seed, 260);
	// The run exercised every feature the rule speaks of, not only the easy path.
	for (const [feature, count] of Object.entries(seen)) expect(count, feature).toBeGreaterThan(0);
	expect(seen.taken).toBeGreaterThan(100);
});

test.each([5, 6, 7])('with closed keys\' backlogs at the front of the lanes, the claim order still equals the model (seed %i)', async (seed) => {
	const seen = await run(seed, 200, { backlogs: true });
	for (const [feature, count] of Object.entries(seen)) expect(count, feature).toBeGreaterThan(0);
	expect(seen.aroundBacklog).toBeGreaterThan(10);
});
