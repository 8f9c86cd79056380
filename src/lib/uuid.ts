// The one spelling of "is this a uuid": ids in URLs, forms, tokens and cursors are checked here
// before they reach a query, so a malformed id is a 404/400 rather than a Postgres cast error.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
	return typeof value === 'string' && UUID.test(value);
}
