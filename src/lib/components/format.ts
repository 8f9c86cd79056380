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

/** 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 102nd, 111th. */
export function ordinal(n: number): string {
	const tens = n % 100;
	if (tens >= 11 && tens <= 13) return `${n}th`;
	return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

/** A place in the queue as the start of a line: "Next in line" for the next job the workers take, else "3rd in line". */
export function inLine(position: number): string {
	return position === 1 ? 'Next in line' : `${ordinal(position)} in line`;
}

/** 8 s, 1 min 20 s, 2 min, 14 min, 1 h 5 min: a wait rounded as far as an estimate deserves. */
export function formatApproxWait(seconds: number): string {
	const s = Math.max(1, Math.round(seconds));
	if (s < 60) return `${s} s`;
	if (s < 600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
	const minutes = Math.round(s / 60);
	if (minutes < 60) return `${minutes} min`;
	return minutes % 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes / 60} h`;
}

/** How long past an estimated start the wait may still be called "soon" before we admit it is late. */
const SOON_GRACE_SECONDS = 60;

/**
 * The wait until an estimated start, from the browser's clock: "about 8 s", then once the estimate
 * has passed "starting soon", and "later than estimated" when it is well past (the server's next
 * estimate normally arrives long before that). Null without an estimate or a readable time.
 */
export function formatEta(estimatedStartAt: string | null | undefined, now: number): string | null {
	const at = estimatedStartAt ? Date.parse(estimatedStartAt) : NaN;
	if (!Number.isFinite(at)) return null;
	const left = (at - now) / 1000;
	if (left >= 0.5) return `about ${formatApproxWait(left)}`;
	return -left < SOON_GRACE_SECONDS ? 'starting soon' : 'later than estimated';
}
