// The one-time notice after sign-up: who is the administrator, and the limits everyone starts with.
//
// A short-lived cookie, set by the sign-up action and read and cleared by the next page load, rather
// than a query parameter: a parameter would stay in the address bar, so a reload, a bookmark or a
// shared link would show "you are the administrator" again, to anyone. The cookie is HttpOnly and
// lives a minute; it only says "just signed up" (and whether as the first account): whether the
// reader is an administrator is taken from their session, never from the cookie.
import type { Cookies } from '@sveltejs/kit';
import type { Sql } from '../db/client';
import { getUserLimits } from '../generations/start';
import type { AppUser } from './user';

export const WELCOME_COOKIE = 'picture_welcome';
const WELCOME_SECONDS = 60;

export interface Welcome {
	/** 'first': the first account, hence the administrator; 'named': an administrator by ADMIN_EMAILS (or app_metadata). */
	administrator: 'first' | 'named' | null;
	hourlyLimit: number;
	dailyLimit: number;
}

const options = (secure: boolean) => ({ path: '/', httpOnly: true, sameSite: 'lax' as const, secure });

export function setWelcome(cookies: Cookies, secure: boolean, first: boolean): void {
	cookies.set(WELCOME_COOKIE, first ? 'first' : 'new', { ...options(secure), maxAge: WELCOME_SECONDS });
}

/** The notice for this request, once: the cookie is cleared in the same answer. */
export async function takeWelcome(cookies: Cookies, secure: boolean, user: AppUser | null, sql: Sql): Promise<Welcome | null> {
	const value = cookies.get(WELCOME_COOKIE);
	if (value === undefined) return null;
	cookies.delete(WELCOME_COOKIE, options(secure));
	if (!user) return null;
	// This user's own limits (the defaults at sign-up), so the notice says what the account page says.
	const limits = await getUserLimits(sql, user.id);
	return {
		administrator: user.isAdmin ? (value === 'first' ? 'first' : 'named') : null,
		hourlyLimit: limits.hourly_limit,
		dailyLimit: limits.daily_limit
	};
}
