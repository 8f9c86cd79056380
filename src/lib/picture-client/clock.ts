// The server's clock, as seen from this device. Estimates (estimated_start_at, a retry's time) are
// on the server's clock; a device whose clock is a minute off would count down to nonsense. Every
// view and `position` event carries server_time, the server's clock when it was sent: the offset
// is taken once per message, when it arrives, and the countdown runs on the device's clock plus it.

/**
 * The server's clock minus this device's (ms), from a message's server_time and when it arrived
 * here. 0 without a readable server_time (an older server): the device's clock is all there is.
 * The message's time in transit counts as skew, which errs towards a longer wait by that much.
 */
export function clockOffsetMs(serverTime: string | null | undefined, receivedAt: number): number {
	const server = serverTime ? Date.parse(serverTime) : NaN;
	return Number.isFinite(server) ? server - receivedAt : 0;
}

/** Seconds from the server's now (the device's clock plus the offset) until an ISO time on the server's clock; NaN without one. */
export function secondsUntil(iso: string | null | undefined, offsetMs: number, deviceNow: number = Date.now()): number {
	const at = iso ? Date.parse(iso) : NaN;
	return (at - (deviceNow + offsetMs)) / 1000;
}
