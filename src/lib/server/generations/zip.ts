// A store-only ZIP writer, streamed entry by entry. The images are PNG/JPEG/WebP, already
// compressed: deflating them again costs CPU for nothing, so entries are stored (method 0). No
// dependency: the format is the local header + data per entry, then a central directory.
// Limits: fewer than 65,535 entries and under 4 GiB in all (no ZIP64); a group has at most 16.

const CRC_TABLE = (() => {
	const table = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		table[n] = c >>> 0;
	}
	return table;
})();

export function crc32(data: Uint8Array): number {
	let crc = 0xffffffff;
	for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
	return (crc ^ 0xffffffff) >>> 0;
}

/** MS-DOS date and time, as ZIP headers keep them (local time fields, 2-second resolution). */
function dosDateTime(date: Date): { time: number; date: number } {
	const year = Math.max(1980, date.getUTCFullYear());
	return {
		time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | Math.floor(date.getUTCSeconds() / 2),
		date: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate()
	};
}

export interface ZipEntry {
	/** A plain file name: no folders, no "..", ASCII or UTF-8 (flagged as UTF-8). */
	name: string;
	modified: Date;
	load(): Promise<Uint8Array>;
}

interface Written {
	name: Uint8Array;
	crc: number;
	size: number;
	offset: number;
	stamp: { time: number; date: number };
}

const UTF8_FLAG = 0x0800;

function localHeader(entry: Written): Uint8Array {
	const header = new Uint8Array(30 + entry.name.length);
	const view = new DataView(header.buffer);
	view.setUint32(0, 0x04034b50, true);
	view.setUint16(4, 20, true); // version needed: 2.0
	view.setUint16(6, UTF8_FLAG, true);
	view.setUint16(8, 0, true); // stored
	view.setUint16(10, entry.stamp.time, true);
	view.setUint16(12, entry.stamp.date, true);
	view.setUint32(14, entry.crc, true);
	view.setUint32(18, entry.size, true);
	view.setUint32(22, entry.size, true);
	view.setUint16(26, entry.name.length, true);
	view.setUint16(28, 0, true);
	header.set(entry.name, 30);
	return header;
}

function centralRecord(entry: Written): Uint8Array {
	const record = new Uint8Array(46 + entry.name.length);
	const view = new DataView(record.buffer);
	view.setUint32(0, 0x02014b50, true);
	view.setUint16(4, 20, true); // made by
	view.setUint16(6, 20, true); // needed
	view.setUint16(8, UTF8_FLAG, true);
	view.setUint16(10, 0, true);
	view.setUint16(12, entry.stamp.time, true);
	view.setUint16(14, entry.stamp.date, true);
	view.setUint32(16, entry.crc, true);
	view.setUint32(20, entry.size, true);
	view.setUint32(24, entry.size, true);
	view.setUint16(28, entry.name.length, true);
	// extra, comment, disk, internal attributes: 0
	view.setUint32(38, 0, true); // external attributes
	view.setUint32(42, entry.offset, true);
	record.set(entry.name, 46);
	return record;
}

function endOfDirectory(count: number, size: number, offset: number): Uint8Array {
	const end = new Uint8Array(22);
	const view = new DataView(end.buffer);
	view.setUint32(0, 0x06054b50, true);
	view.setUint16(8, count, true);
	view.setUint16(10, count, true);
	view.setUint32(12, size, true);
	view.setUint32(16, offset, true);
	return end;
}

/** The archive as a stream: each entry is loaded only when the reader gets to it. */
export function zipStream(entries: ZipEntry[]): ReadableStream<Uint8Array> {
	const encoder = new TextEncoder();
	const written: Written[] = [];
	let offset = 0;
	let next = 0;
	return new ReadableStream<Uint8Array>({
		async pull(controller) {
			if (next < entries.length) {
				const entry = entries[next++]!;
				const data = await entry.load();
				const record: Written = { name: encoder.encode(entry.name), crc: crc32(data), size: data.length, offset, stamp: dosDateTime(entry.modified) };
				const header = localHeader(record);
				controller.enqueue(header);
				controller.enqueue(data);
				offset += header.length + data.length;
				written.push(record);
				return;
			}
			let directorySize = 0;
			for (const record of written) {
				const central = centralRecord(record);
				directorySize += central.length;
				controller.enqueue(central);
			}
			controller.enqueue(endOfDirectory(written.length, directorySize, offset));
			controller.close();
		}
	});
}
