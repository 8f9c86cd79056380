// Who may use the operations console, decided where the data is. Every console read model takes a
// ConsoleAccess and every console action takes one that may act, and both check that it is one
// this module made: only consoleReader() and consoleActor() make them, from a signed-in user's
// roles. So a route that forgets its check, or a hook rule that misses a spelling of a path, still
// reaches nothing (DESIGN 7).
import type { AppUser } from '../auth/user';
import { ForbiddenError, UnauthorizedError } from '../errors';

export interface ConsoleAccess {
	readonly user: AppUser;
	/** Administrators act; operators (a read-only role) only look. */
	readonly canAct: boolean;
}

const issued = new WeakSet<ConsoleAccess>();

export const CONSOLE_ONLY = 'This area is for administrators';
export const READ_ONLY = 'Your console role is read-only: ask an administrator to do this';

/** Administrators and operators: whoever may look at the console. */
export function consoleReader(user: AppUser | null): ConsoleAccess {
	if (!user) throw new UnauthorizedError();
	if (!user.isAdmin && !user.isOperator) throw new ForbiddenError(CONSOLE_ONLY);
	const access: ConsoleAccess = Object.freeze({ user, canAct: user.isAdmin });
	issued.add(access);
	return access;
}

/** Administrators only: whoever may change something through the console. */
export function consoleActor(user: AppUser | null): ConsoleAccess {
	const access = consoleReader(user);
	if (!access.canAct) throw new ForbiddenError(READ_ONLY);
	return access;
}

/** The first line of every console read model. */
export function assertReader(access: ConsoleAccess): void {
	if (!issued.has(access)) throw new ForbiddenError(CONSOLE_ONLY);
}

/** The first line of every console action; the administrator it returns signs the audit entry. */
export function assertActor(access: ConsoleAccess): AppUser {
	assertReader(access);
	if (!access.canAct) throw new ForbiddenError(READ_ONLY);
	return access.user;
}
