// The shapes pages and components receive, declared once by the server modules that produce them.
// Type-only re-exports are erased at build time, so no server code reaches the browser, and a page
// load that returns something else is a type error rather than a silently stale copy.
import type { ModelView } from './server/generations/models';

export type { GenerationStatus as Status } from './generation-status';
export type { GenerationView as Generation, UserLimits as Usage } from './server/generations/types';

/** What the generate form needs of a model (the page load sends no more than this). */
export type ModelOption = Pick<
	ModelView,
	'id' | 'display_name' | 'description' | 'min_size' | 'max_size' | 'size_step' | 'available' | 'unavailable_reason'
>;

// The console's rows, as its server modules read them.
export type { StuckJob } from './server/console/stuck';
