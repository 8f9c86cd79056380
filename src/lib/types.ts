// The shapes pages and components receive, declared once by the server modules that produce them.
// Type-only re-exports are erased at build time, so no server code reaches the browser, and a page
// load that returns something else is a type error rather than a silently stale copy.
import type { modelOption } from './server/generations/models';
import type { ConsoleOverview } from './server/console/overview';

export type { GenerationStatus as Status } from './generation-status';
export type { GenerationView as Generation, UserLimits as Usage } from './server/generations/types';
export type { GroupStatus, GroupView as Group } from './server/generations/groups';

/** What the generate form needs of a model (the page load sends no more than this). */
export type ModelOption = ReturnType<typeof modelOption>;

// The console's rows and page data, as its server modules produce them. Page loads keep their Dates
// (SvelteKit serialises with devalue), so these are the server's own types, not JSON copies.
export type { AuditEntry } from './server/console/audit';
export type { ConsoleEnvironment } from './server/console/environment';
export type { ExportLink } from './server/console/export';
export type { FailureGroup } from './server/console/failures';
export type { BulkConfirmation, BulkDone } from './server/console/job-actions';
export type { AttemptView } from './server/console/job-attempts';
export type { JobFilter } from './server/console/job-filter';
export type { JobListRow, JobSort } from './server/console/jobs';
export type { ModelStats } from './server/console/models';
export type { ModelTime } from './server/console/overview';
export type { History, HistoryPoint } from './server/console/history';
export type { LiveBucket, LiveLatency, LiveSeries } from './server/console/live';
export type { RetryCounts } from './server/console/retry-kinds';
export type { ReapedJob, ReaperRun, StuckJob } from './server/console/stuck';
export type { UserPage, UserUsage } from './server/console/users';
export type { CostByModel, CostByUser, CostDay, CostReport } from './server/console/costs';
export type { FairnessSnapshot, UserQueueRow } from './server/monitoring/fairness';
export type { CancelPreview, CronSetup, JobTypeState, PurgePreview, RunBudget, RunNowResult, WorkerRun } from './server/console/worker';

// The overview arrives as JSON (its live refresh fetches /admin/overview), so its rows are taken
// from ConsoleOverview, the plain-JSON shape both its load and the refresh return.
export type OverviewAlert = ConsoleOverview['alerts'][number];
export type OverviewHour = ConsoleOverview['hourly'][number];
