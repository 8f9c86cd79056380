// Small formatting helpers shared by the pages and components (server and browser alike), so every
// page says durations, sizes and waits the same way.

/** 0.84 s, 12.3 s, 2 min 5 s. */
export function formatDuration(seconds: number): string {
	if (!Number.isFinite(seconds) || seconds < 0) return '—';
	if (seconds < 10) return `${seconds.toFixed(2)} s`;
	if (seconds < 60) return `${seconds.toFixed(1)} s`;
	const minutes = Math.floor(seconds / 60);
	return `${minutes} min ${Math.round(seconds % 60)} s`;
}

/** Seconds from one ISO time to another, or null when either is missing. */
export function secondsBetween(from: string | null, to: string | null): number | null {
	if (!from || !to) return null;
	return (Date.parse(to) - Date.parse(from)) / 1000;
}

/** "in 41 minutes", "in 1 hour 5 minutes", "in 30 seconds": when a limit frees up again. */
export function formatWait(seconds: number): string {
	if (seconds < 60) return `in ${Math.max(1, Math.round(seconds))} second${Math.round(seconds) === 1 ? '' : 's'}`;
	const minutes = Math.ceil(seconds / 60);
	if (minutes < 60) return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
	const hours = Math.floor(minutes / 60);
	const rest = minutes % 60;
	return `in ${hours} hour${hours === 1 ? '' : 's'}${rest ? ` ${rest} minute${rest === 1 ? '' : 's'}` : ''}`;
}

export function formatBytes(bytes: number | null): string {
	if (bytes === null) return '—';
	if (bytes < 1024) return `${bytes} B`;
	if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
	return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A stable, timezone-free date for server rendering; the browser may show its own locale later. */
export function formatTimestamp(iso: string): string {
	return iso.replace('T', ' ').slice(0, 19) + ' UTC';
}

export const STATUS_LABELS = {
	queued: 'Queued',
	processing: 'Processing',
	completed: 'Completed',
	failed: 'Failed',
	cancelled: 'Cancelled'
} as const;

export const GROUP_STATUS_LABELS = {
	queued: 'Queued',
	running: 'Running',
	partly_done: 'Partly done',
	done: 'Done',
	failed: 'Failed',
	cancelled: 'Cancelled'
} as const;
