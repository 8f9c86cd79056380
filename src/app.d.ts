// See https://svelte.dev/docs/kit/types#app.d.ts
import type { AppUser } from '$lib/server/auth/user';
import type { Services } from '$lib/server/runtime';

declare global {
	namespace App {
		interface Error {
			message: string;
		}
		interface Locals {
			services: Services;
			user: AppUser | null;
			/** Set by the guard for a browser's page request it refuses: drawn as an error page in the layout. */
			refusal?: { status: 401 | 403; message: string };
		}
	}
}

export {};
