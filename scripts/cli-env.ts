// Shared by the command-line entry points: read .env when present, as `vite dev` would.
import { existsSync } from 'node:fs';

export function loadDotEnv(): void {
	if (existsSync('.env')) process.loadEnvFile('.env');
}

export function log(message: string): void {
	console.log(`[picture] ${message}`);
}
