// CSV exports: the seed's data preservation step (COPY ... TO ... CSV HEADER of failed_jobs_recent
// and queue_health) plus its hourly throughput query (6.5), downloadable from the console. Rows are
// streamed from a cursor, so a day of failures never has to fit in memory.
import { assertReader, type ConsoleAccess } from './access';
import type postgres from 'postgres';
import type { Sql } from '../db/client';
import { NotFoundError } from '../errors';
import { recordAudit } from './audit';

interface ExportDefinition {
	title: string;
	description: string;
	/** The file name's stem; a UTC timestamp is appended. */
	file: string;
	query: (sql: Sql) => postgres.PendingQuery<postgres.Row[]>;
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
	}
};

export interface ExportLink {
	name: string;
	title: string;
	description: string;
	href: string;
}

export function listExports(): ExportLink[] {
	return Object.entries(EXPORTS).map(([name, definition]) => ({
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
 * with the number of rows actually sent.
 */
export async function exportCsv(access: ConsoleAccess, sql: Sql, name: string): Promise<CsvDownload> {
	assertReader(access);
	const actor = access.user;
	const definition = Object.hasOwn(EXPORTS, name) ? EXPORTS[name]! : null;
	if (!definition) throw new NotFoundError(`No export named ${name}`);
	const statement = await definition.query(sql).describe();
	const columns = statement.columns.map((column) => column.name);
	const rows = definition.query(sql).cursor(500)[Symbol.asyncIterator]();
	const encoder = new TextEncoder();
	let sent = 0;
	let audited = false;
	const audit = async (complete: boolean) => {
		if (audited) return;
		audited = true;
		await recordAudit(sql, actor, 'export.csv', { target: name, details: { complete, columns: columns.length }, affectedRows: sent });
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
