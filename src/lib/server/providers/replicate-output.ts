// Copying a finished prediction's image. Output URLs (replicate.delivery) need no token and
// expire an hour after the prediction: download straight away, never store the URL instead.
import type { Prediction } from 'replicate';
import { networkError, type Fetch } from './replicate-errors';
import { ProviderError, type GeneratedImage } from './types';

const CONTENT_TYPES: Record<string, string> = {
	png: 'image/png',
	jpg: 'image/jpeg',
	jpeg: 'image/jpeg',
	webp: 'image/webp',
	gif: 'image/gif'
};

/** The image URL of an output: a string, or the first of an array (flux returns an array). */
export function outputUrl(output: unknown): string | null {
	const first = Array.isArray(output) ? output[0] : output;
	return typeof first === 'string' && /^(https?:|data:)/.test(first) ? first : null;
}

function contentTypeFor(url: string, header: string | null): string {
	const fromHeader = header?.split(';')[0]?.trim().toLowerCase();
	if (fromHeader?.startsWith('image/')) return fromHeader;
	const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
	return (extension && CONTENT_TYPES[extension]) || 'application/octet-stream';
}

export async function downloadOutput(prediction: Prediction, fetchImpl: Fetch, signal: AbortSignal): Promise<GeneratedImage> {
	const url = outputUrl(prediction.output);
	const details = { predictionId: prediction.id };
	if (!url) {
		// Retrying cannot change a finished prediction's output.
		throw new ProviderError('The model finished without returning an image', { permanent: true, details });
	}
	let response: Response;
	try {
		response = await fetchImpl(url, { signal });
	} catch (error) {
		if (signal.aborted) throw signal.reason;
		throw networkError(error, url);
	}
	if (response.status === 404 || response.status === 410) {
		throw new ProviderError('The image expired on Replicate before it could be copied', {
			permanent: true,
			kind: 'provider',
			details: { ...details, status: response.status }
		});
	}
	if (!response.ok) {
		throw new ProviderError(`Downloading the image failed (HTTP ${response.status}); trying again later`, {
			permanent: response.status < 500 && response.status !== 429,
			kind: 'provider',
			details: { ...details, status: response.status }
		});
	}
	const data = Buffer.from(await response.arrayBuffer());
	if (data.length === 0) {
		throw new ProviderError('Replicate returned an empty image; trying again later', { permanent: false, details });
	}
	return {
		data,
		contentType: contentTypeFor(url, response.headers.get('content-type')),
		predictTimeSeconds: typeof prediction.metrics?.predict_time === 'number' ? prediction.metrics.predict_time : null,
		predictionId: prediction.id
	};
}
