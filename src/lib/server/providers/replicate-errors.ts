// Turning Replicate's HTTP failures into ProviderErrors, and keeping the replicate client from
// retrying on its own.
//
// replicate 1.4.0 wraps every request in withAutomaticRetries: a 429 (and a 5xx on GET) is
// re-sent up to 5 more times, with no real delay (its jittered delay is never an integer, so it
// never sleeps) and without reading Retry-After; a fetch that throws is retried the same way.
// That burns the rate limit and hides the server's Retry-After from us. The guarded fetch below
// lets exactly one request reach the network per client call: the first failure is remembered
// and every retry the client attempts fails at once with it, so the error the client finally
// throws is ours and the queue does the backoff.
import { ProviderError } from './types';

export type Fetch = typeof fetch;

interface ReplicateErrorBody {
	detail?: unknown;
	title?: unknown;
	status?: unknown;
}

/** Retry-After as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
	if (!value) return undefined;
	const trimmed = value.trim();
	if (/^\d+$/.test(trimmed)) return Number(trimmed);
	const date = Date.parse(trimmed);
	if (Number.isNaN(date)) return undefined;
	return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

function describe(body: ReplicateErrorBody | null, text: string): string {
	const detail = typeof body?.detail === 'string' ? body.detail : null;
	const title = typeof body?.title === 'string' ? body.title : null;
	return (detail ?? title ?? text).trim().slice(0, 500);
}

/** The ProviderError for a non-2xx answer from Replicate's API. */
export async function errorFromResponse(response: Response, url: string): Promise<ProviderError> {
	const text = await response.text().catch(() => '');
	let body: ReplicateErrorBody | null = null;
	try {
		body = JSON.parse(text) as ReplicateErrorBody;
	} catch {
		// Proxies and load balancers answer HTML or plain text; keep the text.
	}
	const status = response.status;
	const detail = describe(body, text);
	const details = { status, url, detail };

	if (status === 429) {
		const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'));
		return new ProviderError('Replicate is rate limiting requests; trying again later', {
			permanent: false,
			...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
			details
		});
	}
	if (status >= 500 || status === 408) {
		return new ProviderError(`Replicate is unavailable (HTTP ${status}); trying again later`, { permanent: false, details });
	}
	if (status === 401 || status === 403) {
		return new ProviderError('Replicate rejected the API token', { permanent: true, kind: 'unavailable', details });
	}
	if (status === 402) {
		return new ProviderError('The Replicate account has run out of credit', { permanent: true, kind: 'unavailable', details });
	}
	if (status === 400 || status === 422) {
		const reason = detail.replace(/^-\s*/, '');
		return new ProviderError(`The model rejected these settings${reason ? `: ${reason}` : ''}`, { permanent: true, kind: 'input', details });
	}
	if (status === 404) {
		return new ProviderError('Replicate could not find this model or prediction', { permanent: true, kind: 'unavailable', details });
	}
	return new ProviderError(`Replicate refused the request (HTTP ${status})${detail ? `: ${detail}` : ''}`, {
		permanent: true,
		kind: 'provider',
		details
	});
}

/** A network-level failure (DNS, refused connection, reset): worth retrying. */
export function networkError(error: unknown, url: string): ProviderError {
	const cause = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
	return new ProviderError(`Could not reach Replicate: ${cause}`, { permanent: false, details: { url, cause } });
}

/**
 * A fetch for ONE replicate client call: the first request goes to the network; any failure
 * (non-2xx or thrown) is converted once and re-thrown for every retry the client attempts.
 */
export function singleShotFetch(base: Fetch, signal: AbortSignal): Fetch {
	let failure: unknown = null;
	return async (input, init) => {
		if (failure !== null) throw failure;
		const url = input instanceof Request ? input.url : String(input);
		let response: Response;
		try {
			response = await base(input, { ...init, signal: init?.signal ?? signal });
		} catch (error) {
			// An abort is not Replicate's fault: surface the abort reason, not a network error.
			failure = signal.aborted ? signal.reason : networkError(error, url);
			throw failure;
		}
		if (!response.ok) {
			failure = await errorFromResponse(response, url);
			throw failure;
		}
		return response;
	};
}

export function isNotFound(error: unknown): boolean {
	return error instanceof ProviderError && error.options.details?.status === 404;
}
