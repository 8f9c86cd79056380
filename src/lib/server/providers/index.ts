import type { Config } from '../config';
import { createLocalProvider } from './local';
import { createReplicateProvider } from './replicate';
import type { ImageProvider } from './types';

export interface Providers {
	local: ImageProvider;
	/** null while REPLICATE_API_TOKEN is unset. */
	replicate: ImageProvider | null;
}

export function createProviders(config: Config): Providers {
	const { apiToken, baseUrl, pollIntervalMs, maxWaitMs } = config.replicate;
	return {
		local: createLocalProvider({ msPerImage: config.localModel.msPerImage, pricePerSecondUsd: config.localModel.pricePerSecondUsd }),
		replicate: apiToken
			? createReplicateProvider({
					token: apiToken,
					baseUrl: baseUrl ?? undefined,
					pollIntervalMs,
					maxWaitMs,
					webhookUrl: config.publicBaseUrl ? `${config.publicBaseUrl}/api/webhooks/replicate` : null
				})
			: null
	};
}

export function providerFor(providers: Providers, kind: 'local' | 'replicate'): ImageProvider | null {
	return kind === 'local' ? providers.local : providers.replicate;
}
