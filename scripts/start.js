// npm start: builds the app when its sources changed since the last build (scripts/start/), serves
// it with adapter-node, and ends with one line saying where to open it.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureBuilt } from './start/build.js';
import { startLine } from './start/line.js';

const root = process.cwd();
const buildDir = path.resolve(process.env.BUILD_DIR ?? 'build');
// Beside the data, where the app already keeps what it writes (and outside build/, which Vite empties).
const logFile = path.resolve(process.env.DATA_DIR?.trim() || '.data', 'build.log');

try {
	await ensureBuilt({ root, buildDir, logFile });
} catch (error) {
	console.error((/** @type {Error} */ (error)).message);
	process.exit(1);
}

// adapter-node assumes https when ORIGIN is unset, which makes SvelteKit refuse every form post to a
// plain http://localhost; default ORIGIN to the address the README gives.
process.env.ORIGIN ??= `http://localhost:${process.env.PORT ?? 3000}`;
// The app refuses bodies over 1 MB itself, with a message in the caller's format (JSON for /api);
// adapter-node's own limit (512K by default, plain text) must not cut in first.
process.env.BODY_SIZE_LIMIT ??= '2M';

// adapter-node's build/index.js is kept whole (its shutdown on SIGTERM, timeouts, socket activation);
// only its "Listening on http://0.0.0.0:3000" line is held back, for the line below.
const print = console.log;
console.log = (/** @type {unknown[]} */ ...args) => {
	if (typeof args[0] === 'string' && args[0].startsWith('Listening on ')) console.log = print;
	else print(...args);
};
/** @type {{ server: { server: import('node:http').Server } }} */
const app = await import(pathToFileURL(path.join(buildDir, 'index.js')).href);
// The app's services are started by then (the server's init hook awaits them): src/lib/server/app.ts.
/** @type {import('./start/line.js').StartedServices & { close(): Promise<void> }} */
const services = await /** @type {Record<symbol, unknown>} */ (globalThis)[Symbol.for('picture.services')];

const http = app.server.server;
http.once('error', async (/** @type {NodeJS.ErrnoException} */ error) => {
	console.log = print;
	const where = process.env.SOCKET_PATH ?? `${process.env.HOST ?? '0.0.0.0'}:${process.env.PORT ?? 3000}`;
	const problem =
		error.code === 'EADDRINUSE' ? 'the port is in use (another Picture?); start it on another, e.g. PORT=3001 npm start' : error.message;
	console.error(`Picture cannot listen on ${where}: ${problem}`);
	await services.close();
	process.exit(1);
});
if (!http.listening) await new Promise((resolve) => http.once('listening', resolve));
print(startLine({ origin: process.env.ORIGIN, services }));
