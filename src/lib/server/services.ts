// The app's services, assembled from a Config and the parts a process opened (its database pool,
// its migrations, its session secret): the same function builds them for the app, the CLIs and the
// tests, so nothing assembles them twice. Routes use the domain facades (generations, worker);
// the lifecycle (migrating, the in-process worker, closing) is runtime.ts's.
import { SessionStore } from './auth/session';
import type { SupabaseAuth } from './auth/supabase';
import type { AppUser } from './auth/user';
import type { Config } from './config';
import type { Sql } from './db/client';
import type { Migration } from './db/migrate';
import { cancelGeneration } from './generations/cancel';
import { deleteGeneration, providerForModel } from './generations/delete';
import { GenerationEvents } from './generations/events';
import { QueuePositions } from './generations/positions';
import { toView, waitsInLine, type GenerationRow, type GenerationView } from './generations/types';
import { readGenerationImage } from './generations/image';
import { catalogueAnswer, listModels, type Availability, type CatalogueAnswer } from './generations/models';
import { cancelGroup, getGroup, groupArchive, groupView, keepMember, startGroup, summariesFor, type GroupView, type LoadedGroup } from './generations/groups';
import { getGeneration, listGenerations, type ListOptions } from './generations/read';
import { getUserLimits, startGeneration } from './generations/start';
import { JobWaker } from './queue/wake';
import type { GenerationRequest, GroupRequest } from '../schemas';
import { createProviders, type Providers } from './providers';
import { ReadCache } from './read-cache';
import { createStorage, type ImageStorage } from './storage';
import { runWorkerForBudget } from './worker/budgeted';
import type { ContinuousWorker, ContinuousWorkerOptions } from './worker/continuous';
import { createJobHandlers } from './worker/jobs';
import type { WorkerTrigger } from './worker/runs';
import type { JobHandlers } from './worker/types';

/** How this deployment's workers run, from the config: the one mapping of it. */
export type WorkerSettings = Pick<ContinuousWorkerOptions, 'concurrency' | 'batchSize' | 'leaseSeconds' | 'pollMs' | 'listen' | 'retention'>;

export function workerSettings(config: Config): WorkerSettings {
	return {
		concurrency: config.worker.concurrency,
		batchSize: config.worker.batchSize,
		leaseSeconds: config.worker.leaseSeconds,
		pollMs: config.worker.pollSeconds * 1000,
		listen: config.databaseNotifications,
		retention: { days: config.worker.retentionDays }
	};
}

export interface WorkerService {
	settings: WorkerSettings;
	/** The continuous worker running inside this process, if any. */
	inProcess: ContinuousWorker | null;
	/** One bounded pass over the queue, as a cron call or "Run now" makes it. */
	runFor(budgetSeconds: number, trigger: WorkerTrigger): ReturnType<typeof runWorkerForBudget>;
}

/** What routes ask of generations: every call names the user it acts for. */
export interface GenerationsService {
	/** Whether each kind of model can run here (Replicate needs its token). */
	availability: Availability;
	start(user: AppUser, request: GenerationRequest): ReturnType<typeof startGeneration>;
	list(user: AppUser, options?: ListOptions): ReturnType<typeof listGenerations>;
	get(user: AppUser, id: string): ReturnType<typeof getGeneration>;
	cancel(user: AppUser, id: string): ReturnType<typeof cancelGeneration>;
	remove(user: AppUser, id: string): Promise<void>;
	image(user: AppUser, id: string, size: 'full' | 'thumb'): ReturnType<typeof readGenerationImage>;
	limits(user: AppUser): ReturnType<typeof getUserLimits>;
	models(): ReturnType<typeof listModels>;
	/** The API's view of rows the caller may see, with their places in line (one shared read). */
	views(rows: GenerationRow[]): Promise<GenerationView[]>;
	/** GET /api/models's body and ETag, remembered for CATALOGUE_MAX_AGE_MS. */
	catalogue(): Promise<CatalogueAnswer>;
	/** Groups: one prompt, several pictures (generations/groups.ts). */
	groups: {
		start(user: AppUser, request: GroupRequest): ReturnType<typeof startGroup>;
		get(user: AppUser, id: string): ReturnType<typeof getGroup>;
		cancel(user: AppUser, id: string): ReturnType<typeof cancelGroup>;
		keep(user: AppUser, groupId: string, generationId: string): ReturnType<typeof keepMember>;
		archive(user: AppUser, id: string): ReturnType<typeof groupArchive>;
		summaries(user: AppUser, groupIds: string[]): ReturnType<typeof summariesFor>;
		/** The API's view of a loaded group, its members with their places in line (as views()). */
		view(loaded: LoadedGroup): Promise<GroupView>;
	};
}

/**
 * How long the public catalogue's answer is reused. An administrator's change shows within this
 * long; starting a generation always checks the model afresh (start_generation).
 */
export const CATALOGUE_MAX_AGE_MS = 1000;

export interface Services {
	config: Config;
	sql: Sql;
	databaseUrl: string;
	migrations: Migration[];
	/** Set when the database's migration history disagrees with the code; the app then reports 503. */
	migrationError: string | null;
	/** Set when the image store failed its check at start; the app then reports 503 and runs no worker. */
	storageError: string | null;
	handlers: JobHandlers;
	providers: Providers;
	storage: ImageStorage;
	events: GenerationEvents;
	/** Queued generations' places in line and estimates (generations/positions.ts). */
	positions: QueuePositions;
	sessionSecret: string;
	/** Local accounts' server-side sessions (unused in Supabase accounts mode). */
	sessions: SessionStore;
	/** Set in Supabase accounts mode: verifies Supabase access tokens and signs in through Supabase Auth. */
	supabaseAuth: SupabaseAuth | null;
	generations: GenerationsService;
	worker: WorkerService;
	/** The slow, slowly changing reads (overview series, metrics base), remembered for this process. */
	readCache: ReadCache;
	/** Announces the jobs this process's starts enqueued silently, after their commits. */
	jobWaker: JobWaker;
	/** Where this process's operational messages go ("[picture] ..." on stdout by default). */
	log: (message: string) => void;
	/** True once the schema is current and the background work runs; false if it never will. */
	whenReady(): Promise<boolean>;
	close(): Promise<void>;
}

/** What a process opened before the services can exist; the rest defaults from the config. */
export interface ServiceParts {
	sql: Sql;
	databaseUrl: string;
	migrations: Migration[];
	sessionSecret: string;
	providers?: Providers;
	storage?: ImageStorage;
	/** The job handlers; the app's own (generate-image on these providers and storage) by default. */
	handlers?: JobHandlers;
	supabaseAuth?: SupabaseAuth | null;
	migrationError?: string | null;
	storageError?: string | null;
	log?: (message: string) => void;
}

export function createServices(config: Config, parts: ServiceParts): Services {
	const providers = parts.providers ?? createProviders(config);
	const storage = parts.storage ?? createStorage(config);
	const handlers = parts.handlers ?? createJobHandlers({ providers, storage });
	const availability: Availability = { replicateConfigured: providers.replicate !== null };
	const settings = workerSettings(config);
	const log = parts.log ?? ((message: string) => console.log(`[picture] ${message}`));
	const jobWaker = new JobWaker(parts.sql, log);
	const services: Services = {
		config,
		sql: parts.sql,
		databaseUrl: parts.databaseUrl,
		migrations: parts.migrations,
		migrationError: parts.migrationError ?? null,
		storageError: parts.storageError ?? null,
		handlers,
		providers,
		storage,
		events: new GenerationEvents(parts.sql, { listen: config.databaseNotifications, log: parts.log }),
		positions: new QueuePositions(parts.sql, {
			// The in-process worker's slots bound how many run at once; with cron or outside workers, only the models do.
			workerSlots: () => (services.worker.inProcess ? settings.concurrency : null),
			log
		}),
		sessionSecret: parts.sessionSecret,
		sessions: new SessionStore(parts.sql, parts.sessionSecret, config.adminEmails),
		supabaseAuth: parts.supabaseAuth ?? null,
		generations: {
			availability,
			start: (user, request) => startGeneration(services.sql, user.id, request, availability, jobWaker),
			list: (user, options) => listGenerations(services.sql, user, options),
			get: (user, id) => getGeneration(services.sql, user, id),
			cancel: (user, id) => cancelGeneration(services.sql, user, id, providerForModel(services.sql, providers)),
			remove: (user, id) => deleteGeneration(services.sql, user, id, { storage, providers }),
			image: (user, id, size) => readGenerationImage(services.sql, storage, user, id, size),
			limits: (user) => getUserLimits(services.sql, user.id),
			models: () => listModels(services.sql, availability),
			views: async (rows) => {
				const { positions } = services;
				if (!rows.some(waitsInLine)) return rows.map((row) => toView(row, null, positions.now()));
				const standings = await Promise.all(rows.map((row) => (waitsInLine(row) ? positions.standingOf(row.id, row.updated_at) : null)));
				const now = positions.now();
				return rows.map((row, i) => toView(row, standings[i], now));
			},
			catalogue: () => services.readCache.get('catalogue', CATALOGUE_MAX_AGE_MS, () => catalogueAnswer(services.sql, availability)),
			groups: {
				start: (user, request) => startGroup(services.sql, user.id, request, availability, jobWaker),
				get: (user, id) => getGroup(services.sql, user, id),
				cancel: (user, id) => {
					const providerOf = providerForModel(services.sql, providers);
					return cancelGroup(services.sql, user, id, async (row) => {
						if (row.prediction_id) await (await providerOf(row.model_id))?.cancel(row.prediction_id);
					});
				},
				keep: (user, groupId, generationId) => keepMember(services.sql, user, groupId, generationId),
				archive: (user, id) => groupArchive(services.sql, storage, user, id),
				summaries: (user, groupIds) => summariesFor(services.sql, user, groupIds),
				view: async (loaded) => groupView(loaded, await services.generations.views(loaded.members))
			}
		},
		worker: {
			settings,
			inProcess: null,
			runFor: (budgetSeconds, trigger) =>
				runWorkerForBudget({ sql: services.sql, handlers, trigger, budgetMs: budgetSeconds * 1000, ...settings, log: parts.log })
		},
		readCache: new ReadCache(),
		jobWaker,
		log,
		whenReady: async () => true,
		close: async () => {
			await jobWaker.idle();
			services.positions.close();
			await services.events.close();
		}
	};
	return services;
}
