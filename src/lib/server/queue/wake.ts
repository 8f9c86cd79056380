// Wake-ups sent after the commit. A NOTIFY inside a transaction takes a database-wide lock at commit
// and keeps it through the WAL flush, so every notifying commit waits behind the others' fsyncs. The
// app's starts therefore enqueue silently (start_generation's p_defer_wake) and this sends the
// notification afterwards: one at a time per process, and every start that commits while one is on
// its way is carried by the next, so a burst of starts costs a wake or two, not one each.
import type { Sql } from '../db/client';
import { JOB_INSERTED_CHANNEL } from './index';

export class JobWaker {
	private sending: Promise<void> | null = null;
	private again = false;

	constructor(
		private readonly sql: Sql,
		private readonly log?: (message: string) => void
	) {}

	/** After a commit that enqueued silently: workers hear of it within one round trip. */
	wake(): void {
		if (this.sending) {
			this.again = true;
			return;
		}
		this.sending = this.send();
	}

	/** Resolves once no wake is on its way (tests, shutdown). */
	async idle(): Promise<void> {
		while (this.sending) await this.sending;
	}

	private async send(): Promise<void> {
		try {
			do {
				this.again = false;
				// Its own tiny transaction: a wake is a hint (the workers' poll is the backstop), so it
				// need not wait for its WAL flush, and holds the notify lock only for a moment.
				await this.sql`select set_config('synchronous_commit', 'off', true), pg_notify(${JOB_INSERTED_CHANNEL}, '')`;
			} while (this.again);
		} catch (error) {
			this.log?.(`wake after commit failed (workers find the job at their next poll): ${(error as Error).message}`);
		} finally {
			this.sending = null;
		}
	}
}
