// The confirmation's sentence for a retry: what it brings back and what it leaves alone, by kind
// (the server's retry-kinds.ts). "12 failed and 3 cancelled by operators will be retried; 5
// cancelled by their owners and 2 whose picture was deleted are left alone."
import type { RetryCounts } from '$lib/types';

function list(parts: string[]): string {
	if (parts.length <= 1) return parts.join('');
	return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

const n = (value: number) => value.toLocaleString('en-US');

export function retriedTotal(kinds: RetryCounts, includeOwners: boolean): number {
	return kinds.failed + kinds.operator_cancelled + (includeOwners ? kinds.owner_cancelled : 0);
}

export function leftAloneTotal(kinds: RetryCounts, includeOwners: boolean): number {
	return kinds.deleted + kinds.made + (includeOwners ? 0 : kinds.owner_cancelled);
}

export function retrySentence(kinds: RetryCounts, includeOwners: boolean): string {
	const retried = [
		kinds.failed ? `${n(kinds.failed)} failed` : '',
		kinds.operator_cancelled ? `${n(kinds.operator_cancelled)} cancelled by operators` : '',
		includeOwners && kinds.owner_cancelled ? `${n(kinds.owner_cancelled)} cancelled by their owners` : ''
	].filter(Boolean);
	const left = [
		!includeOwners && kinds.owner_cancelled ? `${n(kinds.owner_cancelled)} cancelled by their owners` : '',
		kinds.deleted ? `${n(kinds.deleted)} whose picture was deleted` : '',
		kinds.made ? `${n(kinds.made)} whose picture is already made` : ''
	].filter(Boolean);
	const leftCount = leftAloneTotal(kinds, includeOwners);
	const first = retried.length ? `${list(retried)} will be retried` : 'Nothing will be retried';
	return left.length ? `${first}; ${list(left)} ${leftCount === 1 ? 'is' : 'are'} left alone.` : `${first}.`;
}
