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
		}
	}
}

export {};
