// What the console's charts share: colours for light and dark (the app follows the system's
// colour scheme, see app.css), and a hook that repaints a chart when the scheme changes.
export interface ChartPalette {
	text: string;
	grid: string;
	total: string;
	completed: string;
	failed: string;
	average: string;
	p95: string;
	bar: string;
}

export function chartPalette(dark: boolean): ChartPalette {
	return dark
		? {
				text: '#a8a29e', // stone-400
				grid: 'rgba(120, 113, 108, 0.25)',
				total: '#38bdf8', // sky-400
				completed: '#34d399', // emerald-400
				failed: '#fb7185', // rose-400
				average: '#38bdf8',
				p95: '#fbbf24', // amber-400
				bar: '#fbbf24'
			}
		: {
				text: '#57534e', // stone-600
				grid: 'rgba(168, 162, 158, 0.3)',
				total: '#0284c7', // sky-600
				completed: '#059669', // emerald-600
				failed: '#e11d48', // rose-600
				average: '#0284c7',
				p95: '#d97706', // amber-600
				bar: '#d97706'
			};
}

interface Colorable {
	color?: unknown;
}
/** The parts of a chart's options that carry colours, whatever its type. */
interface PaintableOptions {
	scales?: Record<string, { ticks?: Colorable; grid?: Colorable; title?: Colorable } | undefined>;
	plugins?: { legend?: { labels?: Colorable } };
}

/** Axis text, grid lines and legend in the palette's colours. */
export function paintAxes(options: PaintableOptions, colors: ChartPalette): void {
	for (const scale of Object.values(options.scales ?? {})) {
		if (scale?.ticks) scale.ticks.color = colors.text;
		if (scale?.grid) scale.grid.color = colors.grid;
		if (scale?.title) scale.title.color = colors.text;
	}
	const labels = options.plugins?.legend?.labels;
	if (labels) labels.color = colors.text;
}

/** Calls paint now and whenever the system switches between light and dark; returns the unsubscribe. */
export function followColorScheme(paint: (colors: ChartPalette) => void): () => void {
	const scheme = window.matchMedia('(prefers-color-scheme: dark)');
	const onChange = () => paint(chartPalette(scheme.matches));
	onChange();
	scheme.addEventListener('change', onChange);
	return () => scheme.removeEventListener('change', onChange);
}

/**
 * Resizes the chart in the same frame its box changes. chart.js's own observer waits a frame, and
 * until then its canvas keeps the old pixel width, which for one frame widens the whole page on a
 * phone (or in a screenshot taken right after a resize).
 */
export function fitToBox(chart: { resize(): void }, box: HTMLElement): () => void {
	const observer = new ResizeObserver(() => chart.resize());
	observer.observe(box);
	return () => observer.disconnect();
}

const hourFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** "14:00" in the viewer's time zone. */
export function hourLabel(iso: string): string {
	return hourFormat.format(new Date(iso));
}

/** Seconds for axes and tooltips: "850 ms", "4.2 s", "2.5 min". */
export function secondsLabel(seconds: number): string {
	if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
	if (seconds < 120) return `${Number(seconds.toFixed(seconds < 10 ? 1 : 0))} s`;
	return `${Number((seconds / 60).toFixed(1))} min`;
}
