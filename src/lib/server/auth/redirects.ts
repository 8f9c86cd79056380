// Where to go after signing in: only a path on this site. Anything a browser might read as another
// host falls back to the default page: `//host`, `/\host`, a tab or newline inside (browsers strip
// them, so `/\t/host` is `//host`), any backslash, a scheme, control or non-ASCII characters
// (look-alikes of `/` and `.`), and anything a Location header cannot carry.

const ORIGIN = 'http://picture.invalid';
/** A path and query in printable ASCII, starting with exactly one slash. */
const SAFE_PATH = /^\/(?![/\\])[!#-[\]-~]*$/;

export function safeRedirect(target: unknown, fallback = '/generate'): string {
	if (typeof target !== 'string' || target.length > 2048 || !SAFE_PATH.test(target)) return fallback;
	let url: URL;
	try {
		url = new URL(target, ORIGIN);
	} catch {
		return fallback;
	}
	if (url.origin !== ORIGIN) return fallback;
	// Proxies that decode before routing would see `/%2F/host` as `//host`: refuse encoded slashes up front.
	if (/^\/(%2f|%5c)/i.test(url.pathname)) return fallback;
	return target;
}
