// postinstall: two fixes to postgres.js 3.4.9 (the newest release) for a server that goes away under
// an open transaction: a restart, a failover, pg_terminate_backend.
//  1. The transaction's ROLLBACK is written after the socket is gone: unpatched, that throws
//     "Cannot read properties of null (reading 'write')" from a setImmediate, outside any promise,
//     and kills the process (porsager/postgres#1066, #1154, #1208). Patched, the write fails the
//     waiting queries with CONNECTION_CLOSED (the approach of the unreleased #1209: settle, not
//     drop, or the caller waits forever).
//  2. The dead backend's last error (57P01 "terminating connection") outlives the socket and is
//     handed to the next query on the reconnected connection (reported in #1215). Patched, a
//     closed connection forgets it.
// Idempotent; stops the install if the driver's code is not what these were written for.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MARK = '// picture: scripts/patch-postgres.js';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node_modules/postgres');
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const patches = [
	{
		original: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
		patched:
			'  function nextWrite(fn) {\n' +
			`    if (!socket) { ${MARK}\n` +
			'      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n' +
			'      chunk = nextWriteTimer = null\n' +
			"      error(Errors.connection('CONNECTION_CLOSED', options, socket))\n" +
			'      return false\n' +
			'    }\n' +
			'    const x = socket.write(chunk, fn)'
	},
	{
		original: '    socket.removeAllListeners()\n    socket = null\n',
		patched: `    socket.removeAllListeners()\n    socket = null\n    errorResponse = null ${MARK}\n`
	}
];

for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
	const target = path.join(root, file);
	let code = readFileSync(target, 'utf8');
	if (code.includes(MARK)) continue;
	for (const { original, patched } of patches) {
		if (code.split(original).length !== 2) {
			console.error(`patch-postgres: postgres ${version} ${file} is not as expected; review scripts/patch-postgres.js`);
			process.exit(1);
		}
		code = code.replace(original, patched);
	}
	writeFileSync(target, code);
	console.log(`patch-postgres: patched postgres ${version} ${file}`);
}
