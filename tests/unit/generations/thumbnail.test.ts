import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { makeThumbnail, readImageInfo } from '$lib/server/images/thumbnail';

function png(width: number, height: number): Promise<Buffer> {
	return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 80, b: 40 } } })
		.png()
		.toBuffer();
}

describe('makeThumbnail', () => {
	test('makes a WebP that fits in 384 pixels and keeps the aspect ratio', async () => {
		const thumbnail = await makeThumbnail(await png(1024, 512));
		expect(thumbnail.contentType).toBe('image/webp');
		expect([thumbnail.width, thumbnail.height]).toEqual([384, 192]);
		expect(await readImageInfo(thumbnail.data)).toEqual({ width: 384, height: 192, format: 'webp' });
	});

	test('fits portrait images by their height, with a custom size', async () => {
		const thumbnail = await makeThumbnail(await png(300, 900), 128);
		expect(thumbnail.height).toBe(128);
		expect(Math.abs(thumbnail.width - 128 / 3)).toBeLessThanOrEqual(1);
		const info = await readImageInfo(thumbnail.data);
		expect([info.width, info.height]).toEqual([thumbnail.width, thumbnail.height]);
	});

	test('never enlarges a small image', async () => {
		const thumbnail = await makeThumbnail(await png(200, 100));
		expect([thumbnail.width, thumbnail.height]).toEqual([200, 100]);
		expect((await readImageInfo(thumbnail.data)).format).toBe('webp');
	});

	test('accepts other formats, such as Replicate’s WebP and JPEG', async () => {
		const jpeg = await sharp(await png(800, 600)).jpeg().toBuffer();
		const thumbnail = await makeThumbnail(jpeg);
		expect([thumbnail.width, thumbnail.height]).toEqual([384, 288]);
	});

	test('rejects a nonsensical size', async () => {
		await expect(makeThumbnail(await png(10, 10), 0)).rejects.toThrow(RangeError);
	});
});

describe('readImageInfo', () => {
	test('reads size and format', async () => {
		expect(await readImageInfo(await png(64, 48))).toEqual({ width: 64, height: 48, format: 'png' });
		const webp = await sharp(await png(10, 20)).webp().toBuffer();
		expect(await readImageInfo(webp)).toEqual({ width: 10, height: 20, format: 'webp' });
	});

	test('throws on data that is not an image', async () => {
		await expect(readImageInfo(Buffer.from('<html>Not found</html>'))).rejects.toThrow(/not an image/);
	});
});
