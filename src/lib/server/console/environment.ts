// Which deployment the console belongs to (PICTURE_ENVIRONMENT), and how loudly to say so: red for
// production, amber for staging, neutral otherwise, so nobody purges production thinking it is staging.

export type EnvironmentTone = 'production' | 'staging' | 'neutral';

export interface ConsoleEnvironment {
	/** As configured; null when PICTURE_ENVIRONMENT is unset (no badge). */
	name: string | null;
	tone: EnvironmentTone;
	/**
	 * Prefix of every console page's <title>. Only production gets one: the tab strip, the window
	 * switcher and browser history then say "PRODUCTION" wherever a production console is open, and
	 * the word keeps meaning "careful" because no other environment wears it.
	 */
	titlePrefix: string;
}

// Staging is asked first: "pre-production" contains "production".
const STAGING = /(^|[^a-z])(stag(e|ing)|pre-?prod(uction)?|uat|qa)([^a-z]|$)/i;
const PRODUCTION = /(^|[^a-z])(prod(uction)?|live)([^a-z]|$)/i;

export function consoleEnvironment(name: string | null): ConsoleEnvironment {
	if (!name) return { name: null, tone: 'neutral', titlePrefix: '' };
	const tone: EnvironmentTone = STAGING.test(name) ? 'staging' : PRODUCTION.test(name) ? 'production' : 'neutral';
	return { name, tone, titlePrefix: tone === 'production' ? `${name.toUpperCase()} · ` : '' };
}
