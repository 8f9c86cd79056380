// Small formatting helpers shared by the pages and components (server and browser alike), so every
// page says durations, sizes and waits the same way.
import { secondsUntil } from '../picture-client/clock';

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

/** Why a queued generation is not simply in line (StatusBadge says so instead of "Queued"). */
export type Waiting = 'retry' | 'paused' | 'starting';

/** The reason a queued view waits, for StatusBadge; null when it just waits in line (or is not queued). */
export function waitingOf(view: { paused: boolean; retry: unknown; starting?: boolean }): Waiting | null {
	return view.paused ? 'paused' : view.retry ? 'retry' : view.starting ? 'starting' : null;
}

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

/** What a queued generation's place shows: the line, the wait until it starts and until it is done. */
export interface PlaceWords {
	position: number;
	line: string;
	eta: string | null;
	/** Seconds until the estimated finish (NaN without one); told only while it lies ahead. */
	doneInSeconds: number;
}

/**
 * The place in words at deviceNow (the device's clock), offsetMs being the server's clock minus the
 * device's (clockOffsetMs, taken when the place arrived): the estimates are on the server's clock,
 * so a device a minute off still counts down the right seconds. Null without a place.
 */
export function placeWords(
	place: { queue_position?: number | null; estimated_start_at?: string | null; estimated_done_at?: string | null },
	offsetMs: number,
	deviceNow: number
): PlaceWords | null {
	const position = place.queue_position ?? null;
	if (position === null) return null;
	return {
		position,
		line: inLine(position),
		eta: formatEta(place.estimated_start_at, deviceNow + offsetMs),
		doneInSeconds: secondsUntil(place.estimated_done_at, offsetMs, deviceNow)
	};
}
