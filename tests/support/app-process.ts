// Starts the built app as its own process, for tests that need a configuration of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { expect } from '@playwright/test';

export async function freePort(): Promise<number> {
	const server = createServer().listen(0, '127.0.0.1');
	await once(server, 'listening');
	const port = (server.address() as { port: number }).port;
	server.close();
	return port;
}

export interface AppProcess {
	child: ChildProcess;
	origin: string;
	output(): string;
	stop(): Promise<void>;
}

/**
 * Runs `node build` with env and waits until it is healthy. With embedded, it starts its own
 * Postgres in env.DATA_DIR; otherwise it uses E2E_DATABASE_URL when CI provides one.
 */
export async function startApp(env: Record<string, string>, options: { embedded?: boolean } = {}): Promise<AppProcess> {
	const port = await freePort();
	const origin = `http://127.0.0.1:${port}`;
	const childEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', ORIGIN: origin, IN_PROCESS_WORKER: 'off' };
	delete childEnv.DATABASE_URL;
	if (process.env.E2E_DATABASE_URL && !options.embedded) childEnv.DATABASE_URL = process.env.E2E_DATABASE_URL;
	Object.assign(childEnv, env);
	const child = spawn(process.execPath, [process.env.BUILD_DIR ?? 'build'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
	let output = '';
	child.stdout!.on('data', (chunk) => (output += chunk));
	child.stderr!.on('data', (chunk) => (output += chunk));
	// The health endpoint is the readiness signal.
	await expect
		.poll(async () => (await fetch(`${origin}/api/health`).catch(() => null))?.status ?? 0, { timeout: 60_000, intervals: [100] })
		.toBe(200);
	return {
		child,
		origin,
		output: () => output,
		async stop() {
			if (child.exitCode !== null) return;
			const exited = once(child, 'exit');
			child.kill('SIGTERM');
			await exited;
		}
	};
}
