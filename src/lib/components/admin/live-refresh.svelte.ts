// A console list that keeps itself current: re-runs the page's load every few seconds while the tab
// is visible, and holds still while the operator is in the middle of something (typing a filter,
// reading a confirmation, submitting, selecting text to copy). Ticked rows live in the page's own
// state, so they survive every refresh.
import { invalidateAll } from '$app/navigation';

export type LiveState = 'live' | 'hidden' | 'editing' | 'confirming' | 'selecting' | 'paused' | 'offline';

export const LIVE_TEXT: Record<LiveState, string> = {
	live: 'Live: refreshes every 5 s',
	hidden: 'Paused while this tab is hidden',
	editing: 'Paused while you edit a filter',
	confirming: 'Paused while a confirmation is open',
	selecting: 'Paused while text is selected',
	paused: 'Paused',
	offline: 'Could not refresh: trying again'
};

export class LiveRefresh {
	state = $state<LiveState>('live');
	updatedAt = $state<Date | null>(null);
	/** The operator's own pause button. */
	paused = $state(false);

	constructor(
		private readonly options: {
			intervalMs: number;
			/** Why not to refresh now, if there is a reason (an open confirmation, a submit in flight). */
			holdReason: () => LiveState | null;
			/** Where typing counts as editing. */
			editingWithin: () => HTMLElement | null;
		}
	) {}

	private reason(): LiveState | null {
		if (document.visibilityState !== 'visible') return 'hidden';
		if (this.paused) return 'paused';
		const held = this.options.holdReason();
		if (held) return held;
		const active = document.activeElement;
		const area = this.options.editingWithin();
		if (active && area?.contains(active) && active.matches('input:not([type=checkbox]):not([type=submit]), select, textarea')) return 'editing';
		const selection = window.getSelection();
		if (selection && !selection.isCollapsed && selection.toString().trim() !== '') return 'selecting';
		return null;
	}

	private running = false;
	async tick(): Promise<void> {
		const reason = this.reason();
		if (reason) {
			this.state = reason;
			return;
		}
		if (this.running) return;
		this.running = true;
		try {
			await invalidateAll();
			this.state = 'live';
			this.updatedAt = new Date();
		} catch {
			this.state = 'offline';
		} finally {
			this.running = false;
		}
	}

	/** Starts the timer; returns the stop function (an $effect's teardown). */
	start(): () => void {
		const timer = setInterval(() => void this.tick(), this.options.intervalMs);
		const onVisibility = () => void this.tick();
		document.addEventListener('visibilitychange', onVisibility);
		return () => {
			clearInterval(timer);
			document.removeEventListener('visibilitychange', onVisibility);
		};
	}
}
