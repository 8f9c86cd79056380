// Every environment variable Picture reads, parsed and validated in one place.
// Takes the environment as an argument so the worker CLI (outside Vite) can share it.

export type Env = Record<string, string | undefined>;

export interface Config {
	databaseUrl: string | null;
	dataDir: string;
	databasePoolSize: number;
	cronSecret: string | null;
	/** Emails that are administrators (besides the first account created). */
	adminEmails: string[];
	/** Signs session tokens; generated once and kept in DATA_DIR when unset. */
	sessionSecret: string | null;
	/** The app's public address: Replicate webhooks are requested only when it is set. */
	publicBaseUrl: string | null;
	/**
	 * How DATABASE_URL reaches Postgres. 'transaction': a transaction pooler (Supavisor on port 6543,
	 * PgBouncer in transaction mode), so no LISTEN, no named prepared statements, no session state.
	 */
	databasePoolMode: PoolMode;
	/** LISTEN/NOTIFY for wake-ups and live progress; always off in transaction pool mode (then: polling). */
	databaseNotifications: boolean;
	replicate: {
		apiToken: string | null;
		/** Only for tests and proxies: where the Replicate API lives. */
		baseUrl: string | null;
		webhookSecret: string | null;
		pollIntervalMs: number;
		/** How long one job run waits on a prediction before snoozing its job. */
		maxWaitMs: number;
	};
	localModel: { msPerImage: number; pricePerSecondUsd: number };
	/** Supabase Auth accounts instead of local ones: PUBLIC_SUPABASE_URL + PUBLIC_SUPABASE_ANON_KEY. */
	supabaseAuth: {
		url: string;
		anonKey: string;
		/** Legacy projects' HS256 secret; projects with signing keys are verified against their JWKS. */
		jwtSecret: string | null;
	} | null;
	storage: {
		dir: string;
		supabaseUrl: string | null;
		serviceRoleKey: string | null;
		bucket: string;
	};
	/** Bearer token that lets a scraper read GET /api/metrics (admins can read it with their session). */
	metricsToken: string | null;
	/** PICTURE_ENVIRONMENT: which deployment this is (production, staging ...), shown in the console's header. */
	environment: string | null;
	alerts: {
		/** Slack-compatible incoming webhook: one { text } message when an alert starts and when it clears. */
		webhookUrl: string | null;
		pendingMax: number;
		/** Fraction (0-1) of the last hour's jobs that failed. */
		failureRate: number;
		noCompletionSeconds: number;
		noWorkerSeconds: number;
		/** How often each app process evaluates the alerts. */
		checkSeconds: number;
		/** A user's oldest waiting job may wait this many times the median wait before it alerts... */
		unfairWaitFactor: number;
		/** ...and at least this long. */
		unfairWaitMinSeconds: number;
	};
	worker: {
		budgetSeconds: number;
		concurrency: number;
		batchSize: number;
		leaseSeconds: number;
		pollSeconds: number;
		/** How long `npm run worker` lets running jobs finish on SIGTERM before handing them back. */
		shutdownSeconds: number;
		inProcess: boolean;
		/** Finished jobs and worker runs are purged after this many days (failed jobs: twice that); 0: kept. */
		retentionDays: number;
	};
}

export type PoolMode = 'session' | 'transaction';

/**
 * What a DATABASE_URL most likely is: Supabase's transaction pooler listens on 6543, and
 * `pgbouncer=true` is how Prisma-style URLs mark a transaction pooler. Anything else: session.
 */
export function detectPoolMode(databaseUrl: string | null): PoolMode {
	if (!databaseUrl) return 'session';
	try {
		const url = new URL(databaseUrl);
		const pgbouncer = url.searchParams.get('pgbouncer')?.toLowerCase();
		return url.port === '6543' || pgbouncer === 'true' || pgbouncer === '1' ? 'transaction' : 'session';
	} catch {
		return 'session';
	}
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
	// A price in US dollars per second: 0 by default, at most $100/s.
	const price = (name: string): number => {
		const raw = text(name);
		if (raw === null) return 0;
		const value = Number(raw);
		if (!/^\d+(\.\d+)?$/.test(raw) || !(value <= 100)) {
			problems.push(`${name} must be a price in dollars per second from 0 to 100, e.g. 0.0002, not "${raw}"`);
			return 0;
		}
		return value;
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

	const fraction = (name: string, fallback: number): number => {
		const raw = text(name);
		if (raw === null) return fallback;
		const value = Number(raw);
		if (!Number.isFinite(value) || value < 0 || value > 1) {
			problems.push(`${name} must be a fraction from 0 to 1 (0.1 is 10%), not "${raw}"`);
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

	const sessionSecret = text('SESSION_SECRET');
	if (sessionSecret && sessionSecret.length < 32) problems.push('SESSION_SECRET must be at least 32 characters long');
	const publicBaseUrl = text('PUBLIC_BASE_URL');
	if (publicBaseUrl && !/^https?:\/\//.test(publicBaseUrl)) problems.push('PUBLIC_BASE_URL must start with http:// or https://');
	const webhookSecret = text('REPLICATE_WEBHOOK_SECRET');
	if (webhookSecret && !webhookSecret.startsWith('whsec_')) problems.push('REPLICATE_WEBHOOK_SECRET must start with whsec_');
	const notifications = (text('DATABASE_NOTIFICATIONS') ?? 'on').toLowerCase();
	if (!['on', 'off'].includes(notifications)) problems.push(`DATABASE_NOTIFICATIONS must be on or off, not "${notifications}"`);
	const poolModeRaw = (text('DATABASE_POOL_MODE') ?? 'auto').toLowerCase();
	if (!['auto', 'session', 'transaction'].includes(poolModeRaw)) {
		problems.push(`DATABASE_POOL_MODE must be session, transaction or auto, not "${poolModeRaw}"`);
	}
	const databasePoolMode: PoolMode = poolModeRaw === 'session' || poolModeRaw === 'transaction' ? poolModeRaw : detectPoolMode(databaseUrl);
	const dataDir = text('DATA_DIR') ?? '.data';
	const environment = text('PICTURE_ENVIRONMENT');
	// Free text, since deployments name themselves (eu-production, staging-2): one printable line.
	if (environment && (environment.length > 32 || /[\p{Cc}\p{Cf}]/u.test(environment))) {
		problems.push('PICTURE_ENVIRONMENT must be at most 32 printable characters, e.g. production, staging or development');
	}
	const metricsToken = text('METRICS_TOKEN');
	if (metricsToken && metricsToken.length < 16) problems.push('METRICS_TOKEN must be at least 16 characters long');
	const alertWebhookUrl = text('ALERT_WEBHOOK_URL');
	if (alertWebhookUrl && !/^https?:\/\//.test(alertWebhookUrl)) problems.push('ALERT_WEBHOOK_URL must start with http:// or https://');
	const supabaseUrl = text('PUBLIC_SUPABASE_URL')?.replace(/\/+$/, '') ?? null;
	if (supabaseUrl && !/^https?:\/\/[^/]/.test(supabaseUrl)) problems.push('PUBLIC_SUPABASE_URL must start with http:// or https://');
	// Supabase's newer "publishable" key is accepted under its own name too.
	const supabaseAnonKey = text('PUBLIC_SUPABASE_ANON_KEY') ?? text('PUBLIC_SUPABASE_PUBLISHABLE_KEY');
	const supabaseJwtSecret = text('SUPABASE_JWT_SECRET');
	if (supabaseAnonKey && !supabaseUrl) problems.push('PUBLIC_SUPABASE_ANON_KEY needs PUBLIC_SUPABASE_URL');
	if (supabaseJwtSecret && !(supabaseUrl && supabaseAnonKey)) {
		problems.push('SUPABASE_JWT_SECRET needs PUBLIC_SUPABASE_URL and PUBLIC_SUPABASE_ANON_KEY (Supabase Auth)');
	}

	const config: Config = {
		databaseUrl,
		dataDir,
		databasePoolSize: int('DATABASE_POOL_SIZE', 10, 1, 100),
		cronSecret,
		sessionSecret,
		adminEmails: (text('ADMIN_EMAILS') ?? '')
			.split(',')
			.map((email) => email.trim().toLowerCase())
			.filter(Boolean),
		publicBaseUrl: publicBaseUrl?.replace(/\/+$/, '') ?? null,
		databasePoolMode,
		// LISTEN through a transaction pooler "succeeds" but never hears anything: poll instead.
		databaseNotifications: notifications !== 'off' && databasePoolMode !== 'transaction',
		replicate: {
			apiToken: text('REPLICATE_API_TOKEN'),
			baseUrl: text('REPLICATE_API_BASE_URL'),
			webhookSecret,
			pollIntervalMs: int('REPLICATE_POLL_INTERVAL_MS', 1000, 1, 60_000),
			maxWaitMs: int('REPLICATE_MAX_WAIT_MS', 8000, 0, 600_000)
		},
		localModel: {
			msPerImage: int('LOCAL_MODEL_MS_PER_IMAGE', 2000, 0, 60_000),
			pricePerSecondUsd: price('LOCAL_MODEL_PRICE_PER_SECOND_USD')
		},
		supabaseAuth: supabaseUrl && supabaseAnonKey ? { url: supabaseUrl, anonKey: supabaseAnonKey, jwtSecret: supabaseJwtSecret } : null,
		storage: {
			dir: text('IMAGE_DIR') ?? `${dataDir}/images`,
			supabaseUrl: text('PUBLIC_SUPABASE_URL'),
			serviceRoleKey: text('SUPABASE_SERVICE_ROLE_KEY'),
			bucket: text('SUPABASE_STORAGE_BUCKET') ?? 'generations'
		},
		metricsToken,
		environment,
		alerts: {
			webhookUrl: alertWebhookUrl,
			pendingMax: int('ALERT_PENDING_MAX', 100, 0, 10_000_000),
			failureRate: fraction('ALERT_FAILURE_RATE', 0.1),
			noCompletionSeconds: int('ALERT_NO_COMPLETION_SECONDS', 300, 10, 86_400),
			noWorkerSeconds: int('ALERT_NO_WORKER_SECONDS', 120, 10, 86_400),
			checkSeconds: int('ALERT_CHECK_SECONDS', 30, 1, 3600),
			unfairWaitFactor: int('ALERT_UNFAIR_WAIT_FACTOR', 5, 2, 1000),
			unfairWaitMinSeconds: int('ALERT_UNFAIR_WAIT_MIN_SECONDS', 60, 1, 86_400)
		},
		worker: {
			budgetSeconds: int('WORKER_BUDGET_SECONDS', 50, 1, 900),
			concurrency: int('WORKER_CONCURRENCY', 4, 1, 200),
			batchSize: int('WORKER_BATCH_SIZE', 1, 1, 1000),
			leaseSeconds: int('WORKER_LEASE_SECONDS', 30, 5, 3600),
			// Without notifications the poll is the only wake-up, so it is quicker by default.
			pollSeconds: int('WORKER_POLL_SECONDS', databasePoolMode === 'transaction' ? 1 : 5, 1, 300),
			shutdownSeconds: int('WORKER_SHUTDOWN_SECONDS', 25, 0, 3600),
			retentionDays: int('JOB_RETENTION_DAYS', 14, 0, 3650),
			inProcess: inProcessRaw === 'on' || (inProcessRaw !== 'off' && cronSecret === null)
		}
	};
	if (problems.length > 0) throw new ConfigError(problems);
	return config;
}
