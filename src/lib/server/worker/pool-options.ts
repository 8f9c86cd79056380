// What a WorkerPool is given (worker/pool.ts), and the id a worker goes by in leases and logs.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Sql } from '../db/client';
import type { JobHandlers } from './types';

export interface PoolOptions {
	sql: Sql;
	handlers: JobHandlers;
	workerId?: string;
	/** Jobs run at once. */
	concurrency: number;
	/** Jobs taken per claim query (1 = one claim per free slot). */
	batchSize?: number;
	/**
	 * Jobs claimed ahead of the free slots, waiting in a local buffer so a freed slot starts its next
	 * job without a round trip (0, the default: claim only into free slots). Buffered jobs are held
	 * under lease like running ones: renewed on the heartbeat, given back unstarted on stop() with
	 * their attempt refunded.
	 */
	prefetch?: number;
	/**
	 * A job that waited in the buffer longer than this is confirmed (its lease renewed, fenced)
	 * before it starts, so one cancelled or lost meanwhile never runs. Default 250 ms; 0: every one.
	 */
	recheckMs?: number;
	leaseSeconds: number;
	/**
	 * How often leases are renewed and expired ones (other workers') returned: a third of the lease
	 * by default. Reaping on this beat bounds recovery: a killed worker's job is pending again at
	 * most lease + heartbeatMs after the kill (40 s with the 30 s default lease), wherever the
	 * caller's own, slower reaper happens to be in its cycle.
	 */
	heartbeatMs?: number;
	/**
	 * How long one attempt may run when its job names no limit of its own (payload
	 * attempt_timeout_seconds, as generation jobs carry their model's). Past it the attempt is
	 * abandoned, counted as a failure (retried while attempts remain) and its slot freed, even if the
	 * handler is stuck in a call that never returns. Checked on the heartbeat, so it fires up to one
	 * beat late.
	 */
	attemptTimeoutSeconds?: number;
	log?: (message: string) => void;
}

export function newWorkerId(): string {
	return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
