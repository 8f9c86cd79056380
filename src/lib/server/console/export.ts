// CSV exports: the seed's data preservation step (COPY ... TO ... CSV HEADER of failed_jobs_recent
// and queue_health) plus its hourly throughput query (6.5), and the job list as filtered, downloadable
// from the console. Rows are streamed from a cursor, so a day of failures never has to fit in memory.
import { assertReader, type ConsoleAccess } from './access';
import type postgres from 'postgres';
import type { Sql } from '../db/client';
import { NotFoundError } from '../errors';
import { recordAudit } from './audit';
import { filterQuery, generationIdOf, parseJobFilter, resolveFilter, whereFilter, type Fields, type ResolvedFilter } from './job-filter';

interface ExportDefinition {
	title: string;
	description: string;
	/** The file name's stem; a UTC timestamp is appended. */
	file: string;
	query: (sql: Sql, filter: ResolvedFilter | null) => postgres.PendingQuery<postgres.Row[]>;
	/** Takes the job list's filter (status, type, user, model, from, to, q), parsed as the list parses it. */
	filtered?: boolean;
	/** Listed on the export pages; the jobs export is reached from the job list instead, with its filter. */
	listed?: boolean;
}

const EXPORTS: Record<string, ExportDefinition> = {
	'failed-jobs': {
		title: 'Failed jobs',
		description: 'Every job that failed in the last 24 hours, with its payload and error (failed_jobs_recent).',
		file: 'failed_jobs',
		query: (sql) => sql`select * from public.failed_jobs_recent order by completed_at desc, id`
	},
	'queue-health': {
		title: 'Queue health',
		description: 'Jobs per type and status, average duration, oldest and newest (queue_health).',
		file: 'queue_health',
		query: (sql) => sql`select * from public.queue_health order by job_type, status`
	},
	throughput: {
		title: 'Hourly throughput',
		description: 'Jobs created per hour over the last 24 hours: total, completed, failed, average duration.',
		file: 'throughput_hourly',
		// The seed's 6.5 "System Load Monitoring" query, column for column.
		query: (sql) => sql`
			select date_trunc('hour', created_at) as hour,
			       count(*) as total_jobs,
			       count(*) filter (where status = 'completed') as completed,
			       count(*) filter (where status = 'failed') as failed,
			       avg(extract(epoch from (completed_at - created_at))) as avg_duration
			from public.job_queue
			where created_at > now() - interval '24 hours'
			group by hour
			order by hour desc`
	},
	costs: {
		title: 'Generation costs',
		description: 'Every costed generation of the last 30 days (0027): day, user, model, model seconds and cost in US dollars.',
		file: 'generation_costs',
		// image_generations_costed_idx holds exactly these rows.
		query: (sql) => sql`
			select to_char(g.created_at at time zone 'UTC', 'YYYY-MM-DD') as day, g.id as generation_id, u.email as user_email,
			       g.user_id, g.model_id, g.predict_time_seconds, g.cost_usd
			from public.image_generations g left join auth.users u on u.id = g.user_id
			where g.cost_usd is not null
			  and g.created_at >= ((now() at time zone 'UTC')::date - 29)::timestamp at time zone 'UTC'
			order by g.created_at desc, g.id`
	},
	jobs: {
		title: 'Jobs',
		description: 'The job list as filtered: every matching job, newest first, with its generation and last error.',
		file: 'jobs',
		filtered: true,
		listed: false,
		query: (sql, filter) => sql`
			select j.id, j.job_type, j.status, j.attempts, j.max_attempts, j.claim_count as claims, j.priority,
			       j.payload ->> 'model_id' as model_id, g.id as generation_id, g.prompt, u.email as user_email,
			       j.created_at, j.scheduled_at, j.started_at, j.completed_at, j.locked_by,
			       (select count(*)::int from jsonb_array_elements(j.attempt_log) e where e ->> 'kind' = 'attempt') as failed_attempts,
			       j.error_message
			from public.job_queue j
			left join public.image_generations g on g.id = ${generationIdOf(sql)}
			left join auth.users u on u.id = j.created_by
			where ${filter ? whereFilter(sql, filter) : sql`true`}
			order by j.created_at desc, j.id desc`
	}
};

export interface ExportLink {
	name: string;
	title: string;
	description: string;
	href: string;
}

export function listExports(): ExportLink[] {
	return Object.entries(EXPORTS).filter(([, definition]) => definition.listed !== false).map(([name, definition]) => ({
		name,
		title: definition.title,
		description: definition.description,
		href: `/admin/export/${name}.csv`
	}));
}

const PLAIN_NUMBER = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;
/** Leading characters a spreadsheet reads as the start of a formula (OWASP's list). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field (RFC 4180): quoted when it holds a quote, comma or line break; formulas defused. */
export function csvCell(value: unknown): string {
	if (value === null || value === undefined) return '';
	let text: string;
	if (value instanceof Date) text = value.toISOString();
	else if (typeof value === 'object') text = JSON.stringify(value);
	else text = String(value);
	// A cell that starts like a formula would run in Excel or Sheets; a plain number never does.
	if (typeof value === 'string' && FORMULA_START.test(text) && !PLAIN_NUMBER.test(text)) text = `'${text}`;
	return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvRow(values: unknown[]): string {
	return `${values.map(csvCell).join(',')}\r\n`;
}

export interface CsvDownload {
	filename: string;
	body: ReadableStream<Uint8Array>;
}

/**
 * Starts streaming one export. The audit entry is written when the stream ends (or is abandoned),
 * with the number of rows actually sent, and the filter for the jobs export.
 */
export async function exportCsv(access: ConsoleAccess, sql: Sql, name: string, query: Fields = new URLSearchParams()): Promise<CsvDownload> {
	assertReader(access);
	const actor = access.user;
	const definition = Object.hasOwn(EXPORTS, name) ? EXPORTS[name]! : null;
	if (!definition) throw new NotFoundError(`No export named ${name}`);
	const parsed = definition.filtered ? parseJobFilter(query) : null;
	const filter = parsed ? await resolveFilter(sql, parsed) : null;
	const statement = await definition.query(sql, filter).describe();
	const columns = statement.columns.map((column) => column.name);
	const rows = definition.query(sql, filter).cursor(500)[Symbol.asyncIterator]();
	const filterText = parsed ? filterQuery(parsed).toString() : null;
	const encoder = new TextEncoder();
	let sent = 0;
	let audited = false;
	const audit = async (complete: boolean) => {
		if (audited) return;
		audited = true;
		await recordAudit(sql, actor, 'export.csv', {
			target: filterText ? `${name}?${filterText}` : name,
			details: { complete, columns: columns.length, ...(parsed ? { filter: Object.fromEntries(filterQuery(parsed)) } : {}) },
			affectedRows: sent
		});
	};
	const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13);
	return {
		filename: `${definition.file}-${stamp}Z.csv`,
		body: new ReadableStream<Uint8Array>({
			start(controller) {
				controller.enqueue(encoder.encode(csvRow(columns)));
			},
			async pull(controller) {
				try {
					const next = await rows.next();
					if (next.done) {
						await audit(true);
						controller.close();
						return;
					}
					sent += next.value.length;
					const record = next.value as Record<string, unknown>[];
					controller.enqueue(encoder.encode(record.map((row) => csvRow(columns.map((column) => row[column]))).join('')));
				} catch (error) {
					await audit(false).catch(() => {});
					controller.error(error);
				}
			},
			async cancel() {
				await rows.return?.();
				await audit(false);
			}
		})
	};
}
