// Every environment variable Picture reads, parsed and validated in one place.
// Takes the environment as an argument so the worker CLI (outside Vite) can share it.

export type Env = Record<string, string | undefined>;

export interface Config {
	databaseUrl: string | null;
	dataDir: string;
	databasePoolSize: number;
	cronSecret: string | null;
	worker: {
		budgetSeconds: number;
		concurrency: number;
		batchSize: number;
		leaseSeconds: number;
		pollSeconds: number;
		inProcess: boolean;
	};
}

export class ConfigError extends Error {
	constructor(public readonly problems: string[]) {
		super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
		this.name = 'ConfigError';
	}
}

export function loadConfig(env: Env): Config {
	const problems: string[] = [];
	const text = (name: string): string | null => {
		const value = env[name]?.trim();
		return value ? value : null;
	};
	const int = (name: string, fallback: number, min: number, max: number): number => {
		const raw = text(name);
		if (raw === null) return fallback;
		const value = Number(raw);
		if (!Number.isInteger(value) || value < min || value > max) {
			problems.push(`${name} must be a whole number from ${min} to ${max}, not "${raw}"`);
			return fallback;
		}
		return value;
	};

	const databaseUrl = text('DATABASE_URL');
	if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
		problems.push('DATABASE_URL must start with postgres:// or postgresql://');
	}
	const cronSecret = text('CRON_SECRET');
	if (cronSecret && cronSecret.length < 16) {
		problems.push('CRON_SECRET must be at least 16 characters long');
	}
	const inProcessRaw = (text('IN_PROCESS_WORKER') ?? 'auto').toLowerCase();
	if (!['auto', 'on', 'off'].includes(inProcessRaw)) {
		problems.push(`IN_PROCESS_WORKER must be auto, on or off, not "${inProcessRaw}"`);
	}

	const config: Config = {
		databaseUrl,
		dataDir: text('DATA_DIR') ?? '.data',
		databasePoolSize: int('DATABASE_POOL_SIZE', 10, 1, 100),
		cronSecret,
		worker: {
			budgetSeconds: int('WORKER_BUDGET_SECONDS', 50, 1, 900),
			concurrency: int('WORKER_CONCURRENCY', 4, 1, 200),
			batchSize: int('WORKER_BATCH_SIZE', 1, 1, 1000),
			leaseSeconds: int('WORKER_LEASE_SECONDS', 30, 5, 3600),
			pollSeconds: int('WORKER_POLL_SECONDS', 5, 1, 300),
			inProcess: inProcessRaw === 'on' || (inProcessRaw !== 'off' && cronSecret === null)
		}
	};
	if (problems.length > 0) throw new ConfigError(problems);
	return config;
}
