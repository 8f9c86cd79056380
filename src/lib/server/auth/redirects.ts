/** Only same-site paths: a redirectTo pointing elsewhere would make sign-in an open redirect. */
export function safeRedirect(target: unknown, fallback = '/generate'): string {
	if (typeof target !== 'string' || !target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) {
		return fallback;
	}
	return target;
}
