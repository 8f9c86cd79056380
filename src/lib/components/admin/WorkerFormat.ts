// Formatting shared by the worker, models and users pages. Times are shown in UTC so the server's
// rendering and the browser's hydration always agree, whatever the viewer's time zone.

const integer = new Intl.NumberFormat('en-US');

export function formatCount(value: number): string {
	return integer.format(value);
}

/** 0.4 s, 12.3 s, 4 min 05 s, 2 h 10 min; a dash when unknown. */
export function formatSeconds(seconds: number | null | undefined): string {
	if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
	if (seconds < 10) return `${seconds.toFixed(1)} s`;
	if (seconds < 60) return `${Math.round(seconds)} s`;
	const minutes = Math.floor(seconds / 60);
	if (minutes < 60) return `${minutes} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
	return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** 2025-03-01 14:05:09 (UTC). */
export function formatTime(value: Date | string | null | undefined): string {
	if (!value) return '–';
	return new Date(value).toISOString().replace('T', ' ').slice(0, 19);
}

/** How long before `now` a moment was, in words: "42 s ago", "3 h ago", "never". */
export function formatAgo(value: Date | string | null | undefined, now: Date | string): string {
	if (!value) return 'never';
	const seconds = Math.max(0, (new Date(now).getTime() - new Date(value).getTime()) / 1000);
	if (seconds < 60) return `${Math.round(seconds)} s ago`;
	if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
	if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
	return `${Math.round(seconds / 86400)} d ago`;
}

export function formatPercent(ratio: number | null | undefined): string {
	if (ratio === null || ratio === undefined) return '–';
	return `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)}%`;
}

export function formatMoney(value: number | null | undefined): string {
	if (value === null || value === undefined) return '–';
	return `$${value < 1 ? value.toFixed(4) : value.toFixed(2)}`;
}

/** Shared classes, so every console table and card looks the same in light and dark. */
export const ui = {
	card: 'rounded-xl border border-stone-200 bg-white p-5 dark:border-stone-800 dark:bg-stone-900',
	cardTitle: 'text-sm font-semibold uppercase tracking-wide text-stone-500 dark:text-stone-400',
	tableWrap: 'relative overflow-x-auto rounded-xl border border-stone-200 bg-white dark:border-stone-800 dark:bg-stone-900',
	table: 'w-full text-left text-sm',
	thead: 'bg-stone-50 dark:bg-stone-950/40',
	th: 'px-3 py-2 text-xs font-semibold uppercase tracking-wide text-stone-500 dark:text-stone-400',
	td: 'px-3 py-2 align-top',
	row: 'border-t border-stone-100 dark:border-stone-800',
	input:
		'rounded-md border border-stone-300 bg-white px-3 py-1.5 text-sm aria-invalid:border-red-500 dark:border-stone-700 dark:bg-stone-950',
	button:
		'inline-flex items-center justify-center rounded-md border border-stone-300 px-3 py-1.5 text-sm font-medium hover:bg-stone-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-amber-500 disabled:opacity-60 dark:border-stone-700 dark:hover:bg-stone-800',
	primary:
		'inline-flex items-center justify-center rounded-md bg-stone-900 px-3 py-1.5 text-sm font-semibold text-white hover:bg-stone-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-amber-500 disabled:opacity-60 dark:bg-white dark:text-stone-900 dark:hover:bg-stone-200',
	danger:
		'inline-flex items-center justify-center rounded-md bg-red-700 px-3 py-1.5 text-sm font-semibold text-white hover:bg-red-800 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-500 disabled:opacity-60 dark:bg-red-600 dark:hover:bg-red-500',
	error: 'rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200',
	success:
		'rounded-md border border-emerald-300 bg-emerald-50 px-3 py-2 text-sm text-emerald-900 dark:border-emerald-800 dark:bg-emerald-950 dark:text-emerald-200',
	muted: 'text-sm text-stone-500 dark:text-stone-400'
} as const;
