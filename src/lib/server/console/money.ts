// Money typed into the console (model prices, user budgets): plain decimals only, so "1e3", "NaN",
// "Infinity", "-1" and "$5" are refused with a sentence instead of reaching the numeric columns.
import { ValidationError } from '../errors';

/** Dollars as a plain decimal with at most `decimals` places, from 0 to max; blank gives null. */
export function moneyField(field: string, label: string, raw: unknown, max: number, decimals: number): number | null {
	if (raw === null || raw === undefined) return null;
	const text = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '';
	if (typeof raw === 'string' && text === '') return null;
	const pattern = new RegExp(`^\\d{1,12}(\\.\\d{1,${decimals}})?$`);
	const value = pattern.test(text) ? Number(text) : NaN;
	if (!Number.isFinite(value) || value < 0 || value > max) {
		throw new ValidationError(field, `${label} must be an amount in dollars from 0 to ${max}, with at most ${decimals} decimals (e.g. 2.50)`);
	}
	return value;
}
