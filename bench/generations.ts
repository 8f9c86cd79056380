// Generation-side measurements: POST /api/generations on the built app under 50 concurrent clients,
// and the delay from a generation's status change to its subscribers (the SSE fan-out) with 500 of them.
import { performance } from 'node:perf_hooks';
import { SessionStore } from '../src/lib/server/auth/session';
import { GenerationEvents } from '../src/lib/server/generations/events';
import { builtApp, emit, insertUnlimitedUsers, percentile, QUICK, round, sleep, startNodeApp, type Measurement } from './support';

const SECRET = 'bench-session-secret-that-is-long-enough-1234567890';
const CLIENTS = 50;
const POST_SECONDS = QUICK ? 3 : 10;

export const postGenerations: Measurement = {
	names: ['generations.post.requests_per_s', 'generations.post.p50_ms', 'generations.post.p99_ms'],
	async run(server) {
		const buildDir = builtApp('generations.post');
		if (!buildDir) return;
		const db = await server.freshDatabase('generations.post', { max: 4 });
		const users = await insertUnlimitedUsers(db.sql, CLIENTS, 'bench');
		const app = await startNodeApp(buildDir, { DATABASE_URL: db.url, SESSION_SECRET: SECRET, IN_PROCESS_WORKER: 'off' }, { readyPath: '/api/health', label: 'generations.post' });
		try {
			const { origin } = app;
			const sessions = new SessionStore(db.sql, SECRET);
			const tokens = await Promise.all(users.map((u) => sessions.start(u)));
			const latencies: number[] = [];
			let failed = 0;
			const deadline = performance.now() + POST_SECONDS * 1000;
			const started = performance.now();
			await Promise.all(
				tokens.map(async (token, client) => {
					for (let n = 0; performance.now() < deadline; n++) {
						const t0 = performance.now();
						const response = await fetch(`${origin}/api/generations`, {
							method: 'POST',
							headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
							body: JSON.stringify({ prompt: `bench ${client} ${n}`, model_id: 'local/preview', width: 512, height: 512 })
						});
						await response.arrayBuffer();
						if (response.status === 201) latencies.push(performance.now() - t0);
						else failed++;
					}
				})
			);
			const seconds = (performance.now() - started) / 1000;
			latencies.sort((a, b) => a - b);
			const details = { clients: CLIENTS, requests: latencies.length, failed, seconds: round(seconds) };
			emit({ name: 'generations.post.requests_per_s', value: round(latencies.length / seconds, 0), unit: 'req/s', ...details });
			emit({ name: 'generations.post.p50_ms', value: round(percentile(latencies, 50)), unit: 'ms', ...details });
			emit({ name: 'generations.post.p99_ms', value: round(percentile(latencies, 99)), unit: 'ms', ...details });
		} finally {
			await app.stop();
			await db.drop();
		}
	}
};

const SUBSCRIBERS = 500;
const GENERATIONS = 50;
const ROUNDS = QUICK ? 10 : 40;

export const eventDelay: Measurement = {
	names: ['generations.events.p50_ms', 'generations.events.p99_ms'],
	async run(server) {
		const db = await server.freshDatabase('generations.events', { max: 4 });
		const [user] = await db.sql<{ id: string }[]>`insert into auth.users (email) values ('events@picture.test') returning id`;
		const ids = (
			await db.sql<{ id: string }[]>`
				insert into image_generations (user_id, prompt, model_id, width, height, seed, status)
				select ${user!.id}, 'bench', 'local/preview', 512, 512, n, 'processing' from generate_series(1, ${GENERATIONS}) n
				returning id`
		).map((row) => row.id);
		const events = new GenerationEvents(db.sql, { listen: true });
		const delays: number[] = [];
		let expected = 0;
		let resolveRound: (() => void) | null = null;
		const sentAt = new Map<string, number>();
		for (let i = 0; i < SUBSCRIBERS; i++) {
			const id = ids[i % GENERATIONS]!;
			await events.subscribe(id, () => {
				delays.push(performance.now() - sentAt.get(id)!);
				if (--expected === 0) resolveRound?.();
			});
		}
		try {
			for (let step = 1; step <= ROUNDS; step++) {
				// One status/progress change per generation per round, each its own transaction.
				expected = SUBSCRIBERS;
				const done = new Promise<void>((resolve) => (resolveRound = resolve));
				await Promise.all(
					ids.map(async (id) => {
						sentAt.set(id, performance.now());
						await db.sql`update image_generations set progress = ${step} where id = ${id}`;
					})
				);
				await Promise.race([done, sleep(10_000)]);
			}
		} finally {
			await events.close();
			await db.drop();
		}
		delays.sort((a, b) => a - b);
		const details = { subscribers: SUBSCRIBERS, generations: GENERATIONS, rounds: ROUNDS, events: delays.length, path: 'UPDATE -> NOTIFY -> one LISTEN connection -> read row -> every subscriber (excludes the HTTP write)' };
		emit({ name: 'generations.events.p50_ms', value: round(percentile(delays, 50)), unit: 'ms', ...details });
		emit({ name: 'generations.events.p99_ms', value: round(percentile(delays, 99)), unit: 'ms', ...details });
	}
};
