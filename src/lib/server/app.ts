// The running app's single set of services, started once per process (and kept across dev reloads).
import { env } from '$env/dynamic/private';
import { env as publicEnv } from '$env/dynamic/public';
import { loadConfig } from './config';
import { startServices, type Services } from './runtime';

// Global, so a dev reload finds it; scripts/start.js reads it too, for the line it prints at start.
const globalKey = Symbol.for('picture.services');
type Holder = { [globalKey]?: Promise<Services> };

export function getServices(): Promise<Services> {
	const holder = globalThis as Holder;
	holder[globalKey] ??= startServices(loadConfig({ ...publicEnv, ...env })).then((services) => {
		const shutdown = () => void services.close();
		process.once('sveltekit:shutdown', shutdown);
		process.once('beforeExit', shutdown);
		return services;
	});
	return holder[globalKey];
}
