// Reads a Server-Sent Events response the way a browser's EventSource would.
export interface SseEvent {
	id: string | null;
	event: string;
	data: string;
}

export async function* readSse(response: Response): AsyncGenerator<SseEvent> {
	const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
	// Leaving early (return or break) closes the connection, as EventSource.close() does.
	try {
		yield* events(reader);
	} finally {
		await reader.cancel().catch(() => {});
	}
}

async function* events(reader: ReadableStreamDefaultReader<string>): AsyncGenerator<SseEvent> {
	let buffer = '';
	for (;;) {
		const { value, done } = await reader.read();
		if (done) return;
		buffer += value;
		let end: number;
		while ((end = buffer.indexOf('\n\n')) >= 0) {
			const block = buffer.slice(0, end);
			buffer = buffer.slice(end + 2);
			let id: string | null = null;
			let event = 'message';
			const data: string[] = [];
			for (const line of block.split('\n')) {
				if (line.startsWith('id: ')) id = line.slice(4);
				else if (line.startsWith('event: ')) event = line.slice(7);
				else if (line.startsWith('data: ')) data.push(line.slice(6));
			}
			if (data.length > 0) yield { id, event, data: data.join('\n') };
		}
	}
}

/** Collects every event until the server ends the stream. */
export async function collectSse(response: Response): Promise<SseEvent[]> {
	const events: SseEvent[] = [];
	for await (const event of readSse(response)) events.push(event);
	return events;
}

/**
 * Reads a stream in the background, keeping every event, so a test can wait on a condition over
 * them (`eventually`); close() cancels the read at once, as EventSource.close() does.
 */
export function recordSse(response: Response): { events: SseEvent[]; close(): Promise<void> } {
	const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
	const kept: SseEvent[] = [];
	const done = (async () => {
		for await (const event of events(reader)) kept.push(event);
	})().catch(() => {});
	return {
		events: kept,
		close: async () => {
			await reader.cancel().catch(() => {});
			await done;
		}
	};
}
