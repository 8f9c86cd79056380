// npm start: the built app. adapter-node assumes https when ORIGIN is unset, which makes SvelteKit
// refuse every form post to a plain http://localhost; default ORIGIN to the address the README gives.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

process.env.ORIGIN ??= `http://localhost:${process.env.PORT ?? 3000}`;
await import(pathToFileURL(path.resolve(process.env.BUILD_DIR ?? 'build', 'index.js')).href);
