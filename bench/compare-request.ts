// The request path against a bare SvelteKit app (bench/anchors/bare-kit: adapter-node, one
// transaction of two inserts and a NOTIFY through postgres.js, and a small JSON list), both built
// apps started side by side on the bench's Postgres, 50 keep-alive clients, interleaved rounds.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { SessionStore } from '../src/lib/server/auth/session';
import { emitComparison, interleave } from './compare-support';
import { httpLoad, type LoadRequest, type LoadResult } from './http-load';
import { builtApp, insertUnlimitedUsers, log, median, QUICK, round, startNodeApp, type Measurement, type NodeApp } from './support';

const CLIENTS = 50;
const ROUND_SECONDS = QUICK ? 2 : 10;
/** Before the first round of each endpoint, so neither app is timed while its JIT warms up. */
const WARMUP_SECONDS = QUICK ? 0.5 : 2;
const SECRET = 'bench-session-secret-that-is-long-enough-1234567890';
const BARE_DIR = path.resolve('bench/anchors/bare-kit');
const BARE = 'bare SvelteKit app (bench/anchors/bare-kit, adapter-node, postgres.js pool of 10)';

/** The newest modification time among a folder's files, skipping what the build makes. */
function newestSource(dir: string): number {
	let newest = 0;
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		if (['build', '.svelte-kit', 'node_modules'].includes(entry.name)) continue;
		const file = path.join(dir, entry.name);
		newest = Math.max(newest, entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs);
	}
	return newest;
}

/** Builds the bare app with the project's own vite, kit and adapter-node, unless its build is current. */
function buildBareKit(): string {
	const built = path.join(BARE_DIR, 'build', 'index.js');
	if (existsSync(built) && statSync(built).mtimeMs >= newestSource(BARE_DIR)) return path.dirname(built);
	log('compare.request: building bench/anchors/bare-kit');
	// In its own folder, so adapter-node reads that package.json (postgres stays external, resolved
	// from the project's node_modules at run time: the same patched driver Picture uses).
	const result = spawnSync(process.execPath, [path.resolve('node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
		cwd: BARE_DIR,
		stdio: ['ignore', process.stderr, process.stderr]
	});
	if (result.status !== 0) throw new Error(`building bench/anchors/bare-kit failed (exit ${result.status})`);
	return path.dirname(built);
}

const postBody = (client: number, n: number) => JSON.stringify({ prompt: `bench ${client} ${n}`, model_id: 'local/preview', width: 512, height: 512 });

function roundDetails(rounds: LoadResult[]) {
	return rounds.map((r) => ({
		requests: r.requests,
		failed: r.failed,
		...(r.failed > 0 ? { failures: r.failures } : {}),
		seconds: r.seconds,
		req_per_s: round(r.requestsPerSecond, 0),
		p50_ms: round(r.p50Ms, 2),
		p99_ms: round(r.p99Ms, 2)
	}));
}

export const compareRequest: Measurement = {
	names: ['compare.request.post.requests_per_s', 'compare.request.post.p99_ms', 'compare.request.models.requests_per_s'],
	async run(server) {
		const pictureBuild = builtApp('compare.request');
		if (!pictureBuild) return;
		const bareBuild = buildBareKit();
		const pictureDb = await server.freshDatabase('compare.request_picture', { max: 2 });
		const bareDb = await server.freshDatabase('compare.request_bare', { max: 1 });
		const apps: NodeApp[] = [];
		try {
			const users = await insertUnlimitedUsers(pictureDb.sql, CLIENTS, 'compare');
			const sessions = new SessionStore(pictureDb.sql, SECRET);
			const tokens = await Promise.all(users.map((u) => sessions.start(u)));
			const picture = await startNodeApp(pictureBuild, { DATABASE_URL: pictureDb.url, SESSION_SECRET: SECRET, IN_PROCESS_WORKER: 'off' }, { readyPath: '/api/health', label: 'Picture' });
			apps.push(picture);
			const bare = await startNodeApp(bareBuild, { DATABASE_URL: bareDb.url }, { readyPath: '/api/models', label: 'bench/anchors/bare-kit' });
			apps.push(bare);

			// Picture's POST with its real auth: each client its own signed-in user (a session token).
			const picturePost = (client: number, n: number): LoadRequest => ({
				method: 'POST',
				path: '/api/generations',
				headers: { authorization: `Bearer ${tokens[client]!}`, 'content-type': 'application/json' },
				body: postBody(client, n)
			});
			const barePost = (client: number, n: number): LoadRequest => ({
				method: 'POST',
				path: '/api/generations',
				headers: { 'content-type': 'application/json' },
				body: postBody(client, n)
			});
			const models = (): LoadRequest => ({ method: 'GET', path: '/api/models' });
			const load = (app: NodeApp, request: (client: number, n: number) => LoadRequest, status: number, seconds = ROUND_SECONDS) =>
				httpLoad(app.origin, { clients: CLIENTS, seconds, request, status });

			log(`compare.request: POST /api/generations, ${CLIENTS} clients, ${ROUND_SECONDS} s rounds`);
			await load(picture, picturePost, 201, WARMUP_SECONDS);
			await load(bare, barePost, 201, WARMUP_SECONDS);
			const post = await interleave('compare.request.post', () => load(picture, picturePost, 201), () => load(bare, barePost, 201));
			log(`compare.request: GET /api/models, ${CLIENTS} clients, ${ROUND_SECONDS} s rounds`);
			await load(picture, models, 200, WARMUP_SECONDS);
			await load(bare, models, 200, WARMUP_SECONDS);
			const list = await interleave('compare.request.models', () => load(picture, models, 200), () => load(bare, models, 200));

			for (const rounds of [post, list]) {
				const failed = [...rounds.picture, ...rounds.reference].reduce((sum, r) => sum + r.failed, 0);
				if (failed > 0) log(`compare.request: ${failed} request(s) failed: ${JSON.stringify(roundDetails([...rounds.picture, ...rounds.reference]))}`);
			}
			const common = { clients: CLIENTS, round_seconds: ROUND_SECONDS, client_loop: 'closed loop, node:http keep-alive agent, one connection per client', settings: server.settings };
			const postDetails = {
				...common,
				picture_auth: 'Authorization: Bearer <session token>, one signed-in user per client (unlimited quota)',
				reference_auth: 'none',
				picture_rounds: roundDetails(post.picture),
				reference_rounds: roundDetails(post.reference)
			};
			emitComparison({
				name: 'compare.request.post.requests_per_s',
				unit: 'req/s',
				picture: post.picture.map((r) => r.requestsPerSecond),
				reference: post.reference.map((r) => r.requestsPerSecond),
				referenceName: `${BARE}: one transaction of two inserts and a NOTIFY`,
				better: 'higher',
				goal: { text: '>= 1.0x the bare SvelteKit endpoint', minRatio: 1 },
				details: postDetails
			});
			const p50 = median(post.picture.map((r) => r.p50Ms));
			emitComparison({
				name: 'compare.request.post.p99_ms',
				unit: 'ms',
				picture: post.picture.map((r) => r.p99Ms),
				reference: post.reference.map((r) => r.p99Ms),
				referenceName: `${BARE}: one transaction of two inserts and a NOTIFY`,
				better: 'lower',
				goal: { text: `p99 <= 3x Picture's own p50 (median p50 ${round(p50, 2)} ms)`, maxValue: 3 * p50 },
				details: { ...postDetails, picture_p50_ms: round(p50, 3) }
			});
			emitComparison({
				name: 'compare.request.models.requests_per_s',
				unit: 'req/s',
				picture: list.picture.map((r) => r.requestsPerSecond),
				reference: list.reference.map((r) => r.requestsPerSecond),
				referenceName: `${BARE}: a JSON list of three models`,
				better: 'higher',
				goal: { text: '>= 0.8x the bare SvelteKit endpoint', minRatio: 0.8 },
				details: { ...common, picture_auth: 'anonymous', picture_rounds: roundDetails(list.picture), reference_rounds: roundDetails(list.reference) }
			});
		} finally {
			await Promise.all(apps.map((app) => app.stop()));
			await pictureDb.drop();
			await bareDb.drop();
		}
	}
};
