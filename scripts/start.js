// npm start: the built app. adapter-node assumes https when ORIGIN is unset, which makes SvelteKit
// refuse every form post to a plain http://localhost; default ORIGIN to the address the README gives.
// Also: adapter-node's body limit above the app's own.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

process.env.ORIGIN ??= `http://localhost:${process.env.PORT ?? 3000}`;
// The app refuses bodies over 1 MB itself, with a message in the caller's format (JSON for /api);
// adapter-node's own limit (512K by default, plain text) must not cut in first.
process.env.BODY_SIZE_LIMIT ??= '2M';
await import(pathToFileURL(path.resolve(process.env.BUILD_DIR ?? 'build', 'index.js')).href);
