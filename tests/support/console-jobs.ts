// Shared by the admin-* tests: posts a real FormData to a form action and runs a page's load the
// way SvelteKit does (a real Request, locals as the hooks fill them), and inserts jobs directly.
import { isActionFailure } from '@sveltejs/kit';
import type { AppUser } from '../../src/lib/server/auth/user';
import type { Sql } from '../../src/lib/server/db/client';
import type { Services } from '../../src/lib/server/runtime';

type Fields = Record<string, string | string[] | undefined>;
type AnyAction = (event: never) => unknown;

export interface ActionResult<T = Record<string, any>> {
	status: number;
	data: T;
}

/** The action's answer: { status: 200, data } on success, the fail() status and data otherwise. */
export async function postForm<T = Record<string, any>>(
	action: AnyAction | undefined,
	services: Services,
	user: AppUser,
	fields: Fields,
	options: { path?: string; params?: Record<string, string> } = {}
): Promise<ActionResult<T>> {
	const form = new FormData();
	for (const [name, value] of Object.entries(fields)) {
		for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) form.append(name, item);
	}
	const url = new URL(`http://localhost${options.path ?? '/admin/jobs'}`);
	const request = new Request(url, { method: 'POST', body: form });
	if (!action) throw new Error('no such action');
	const result = await action({ request, url, params: options.params ?? {}, locals: { services, user } } as never);
	if (isActionFailure(result)) return { status: result.status, data: result.data as T };
	return { status: 200, data: result as T };
}

export async function loadPage<T = Record<string, any>>(
	load: AnyAction,
	services: Services,
	user: AppUser,
	path: string,
	params: Record<string, string> = {}
): Promise<T> {
	const url = new URL(`http://localhost${path}`);
	return (await load({ url, params, locals: { services, user }, request: new Request(url) } as never)) as T;
}

export interface JobRow {
	id?: string;
	job_type?: string;
	payload?: Record<string, unknown>;
	status?: string;
	attempts?: number;
	max_attempts?: number;
	priority?: number;
	created_by?: string | null;
	created_at?: Date;
	scheduled_at?: Date;
	started_at?: Date | null;
	completed_at?: Date | null;
	error_message?: string | null;
	error_details?: Record<string, unknown> | null;
	locked_by?: string | null;
	locked_until?: Date | null;
	claim_count?: number;
}

/** A job as the test says; finished ones get completed_at, running ones a lease, unless given. */
export async function insertJob(sql: Sql, row: JobRow = {}): Promise<string> {
	const status = row.status ?? 'pending';
	const finished = ['completed', 'failed', 'cancelled'].includes(status);
	const running = status === 'processing';
	const values = {
		job_type: 'generate-image',
		payload: {},
		attempts: running ? 1 : 0,
		claim_count: running ? 1 : 0,
		completed_at: finished ? new Date() : null,
		started_at: running ? new Date() : null,
		locked_by: running ? 'worker-test' : null,
		locked_until: running ? new Date(Date.now() + 30_000) : null,
		...row,
		status
	};
	const { payload, error_details, ...rest } = values;
	const [inserted] = await sql<{ id: string }[]>`
		insert into public.job_queue ${sql({
			...rest,
			payload: sql.json(payload as never),
			error_details: error_details ? sql.json(error_details as never) : null
		} as never)}
		returning id`;
	return inserted!.id;
}

export const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);
