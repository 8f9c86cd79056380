// The job types this deployment runs, by name. Workers claim only the types registered here.
import { createGenerateImageHandler, type GenerateImageDeps } from '../generations/handler';
import type { JobHandlers } from './types';

export const GENERATE_IMAGE = 'generate-image';

export function createJobHandlers(deps: GenerateImageDeps): JobHandlers {
	return {
		[GENERATE_IMAGE]: createGenerateImageHandler(deps)
	};
}
