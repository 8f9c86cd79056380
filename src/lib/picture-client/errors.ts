// Errors as values the caller can switch on, carrying the server's own message.

export type PictureErrorKind =
	| 'invalid' // 400: the request's values (field says which)
	| 'unauthorized' // 401: no or an expired token / session
	| 'forbidden' // 403
	| 'not_found' // 404: no such generation, or not yours
	| 'conflict' // 409
	| 'rate_limited' // 429: over a limit; retryAfterSeconds says when to try again
	| 'server' // 5xx and any other answer
	| 'network'; // no answer at all

export class PictureError extends Error {
	readonly kind: PictureErrorKind;
	/** The HTTP status, 0 for a network error. */
	readonly status: number;
	readonly field: string | null;
	readonly retryAfterSeconds: number | null;
	/** The answer's JSON body, when it had one (a rate limit's numbers, say). */
	readonly body: Record<string, unknown> | null;

	constructor(kind: PictureErrorKind, message: string, details: { status?: number; field?: string | null; retryAfterSeconds?: number | null; body?: Record<string, unknown> | null } = {}) {
		super(message);
		this.name = 'PictureError';
		this.kind = kind;
		this.status = details.status ?? 0;
		this.field = details.field ?? null;
		this.retryAfterSeconds = details.retryAfterSeconds ?? null;
		this.body = details.body ?? null;
	}

	/** Asking again will not help (a 4xx other than 429). */
	get permanent(): boolean {
		return this.status >= 400 && this.status < 500 && this.status !== 429;
	}
}

const KINDS: Record<number, PictureErrorKind> = { 400: 'invalid', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 429: 'rate_limited' };

/** Reads an unsuccessful answer into a PictureError (the app answers `{ error, field? }` JSON). */
export async function errorFromResponse(response: Response): Promise<PictureError> {
	let body: Record<string, unknown> | null = null;
	let message = `${response.status} ${response.statusText}`.trim();
	try {
		const text = await response.text();
		try {
			const parsed = JSON.parse(text);
			if (parsed && typeof parsed === 'object') body = parsed;
		} catch {
			if (text.trim()) message = text.trim().slice(0, 500);
		}
	} catch {
		// The body could not be read; the status says enough.
	}
	if (body) {
		const said = body.error ?? body.message;
		if (typeof said === 'string') message = said;
		else if (said && typeof said === 'object' && typeof (said as { message?: unknown }).message === 'string') message = (said as { message: string }).message;
	}
	const header = Number(response.headers.get('retry-after'));
	const fromBody = body && typeof body.retry_after_seconds === 'number' ? body.retry_after_seconds : null;
	return new PictureError(KINDS[response.status] ?? 'server', message, {
		status: response.status,
		field: body && typeof body.field === 'string' ? body.field : null,
		retryAfterSeconds: fromBody ?? (Number.isFinite(header) && header > 0 ? header : null),
		body
	});
}

export function networkError(cause: unknown): PictureError {
	const message = cause instanceof Error ? cause.message : String(cause);
	return new PictureError('network', `Could not reach the server: ${message}`);
}
