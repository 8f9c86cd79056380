// The job types this deployment runs, by name. Workers claim only the types registered here.
import type { JobHandlers } from './worker/types';

export function createJobHandlers(): JobHandlers {
	return {};
}
