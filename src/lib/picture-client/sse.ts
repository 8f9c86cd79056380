// An incremental reader of `text/event-stream`, following the WHATWG rules EventSource itself
// uses: lines end in LF, CRLF or CR; a blank line dispatches; `data` lines join with LF; `id`
// persists across events (the Last-Event-ID to resume from); `retry` sets the reconnect delay;
// lines starting with ':' are comments (the server's heartbeats).

export interface SseEvent {
	/** The last id seen so far (ids persist between events), or '' when none was sent. */
	id: string;
	event: string;
	data: string;
}

export class SseParser {
	/** The id to send as Last-Event-ID on reconnect. */
	lastEventId = '';
	/** The server's `retry:` in milliseconds, if it sent one. */
	retryMs: number | null = null;
	private buffer = '';
	/** The id read for the event being built; it becomes lastEventId when that event is complete. */
	private idBuffer: string | null = null;
	private pendingCR = false;
	private event = '';
	private data: string[] = [];
	private hasData = false;

	/** Feeds the next piece of decoded text; returns the events it completed. */
	feed(text: string): SseEvent[] {
		const out: SseEvent[] = [];
		let start = 0;
		let i = 0;
		// A CR at the end of the previous chunk may be the first half of a CRLF.
		if (this.pendingCR && text.startsWith('\n')) start = i = 1;
		this.pendingCR = false;
		for (; i < text.length; i++) {
			const c = text.charCodeAt(i);
			if (c !== 10 && c !== 13) continue;
			this.line(this.buffer + text.slice(start, i), out);
			this.buffer = '';
			if (c === 13) {
				if (i + 1 === text.length) this.pendingCR = true;
				else if (text.charCodeAt(i + 1) === 10) i++;
			}
			start = i + 1;
		}
		this.buffer += text.slice(start);
		return out;
	}

	private line(line: string, out: SseEvent[]) {
		if (line === '') {
			// As EventSource does: the id counts from the blank line on, so a cut inside an event
			// never resumes past it.
			if (this.idBuffer !== null) this.lastEventId = this.idBuffer;
			this.idBuffer = null;
			if (this.hasData) out.push({ id: this.lastEventId, event: this.event || 'message', data: this.data.join('\n') });
			this.event = '';
			this.data = [];
			this.hasData = false;
			return;
		}
		if (line.startsWith(':')) return;
		const colon = line.indexOf(':');
		const field = colon < 0 ? line : line.slice(0, colon);
		let value = colon < 0 ? '' : line.slice(colon + 1);
		if (value.startsWith(' ')) value = value.slice(1);
		if (field === 'data') {
			this.data.push(value);
			this.hasData = true;
		} else if (field === 'event') this.event = value;
		else if (field === 'id') {
			if (!value.includes('\u0000')) this.idBuffer = value;
		} else if (field === 'retry') {
			if (/^\d+$/.test(value)) this.retryMs = Number(value);
		}
	}
}
