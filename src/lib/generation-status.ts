// A generation's statuses, for the server and the browser alike (the history filter, the live
// watcher and the badges need them at run time, so they cannot come from a server module).
export const GENERATION_STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type GenerationStatus = (typeof GENERATION_STATUSES)[number];
export const TERMINAL_STATUSES: readonly GenerationStatus[] = ['completed', 'failed', 'cancelled'];

/** Nothing more will happen to it: no further events, no polling. */
export const isTerminal = (status: GenerationStatus) => TERMINAL_STATUSES.includes(status);
