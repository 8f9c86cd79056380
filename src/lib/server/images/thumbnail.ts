// Thumbnails for the history grid and reading what an image really is (size and format), both with
// sharp. Works on any image a provider returns (PNG from the local model, WebP/JPEG/PNG from
// Replicate), not only our own.
import sharp, { type Metadata } from 'sharp';

export interface Thumbnail {
	data: Buffer;
	contentType: 'image/webp';
	width: number;
	height: number;
}

export interface ImageInfo {
	width: number;
	height: number;
	/** sharp's name for it: 'png', 'webp', 'jpeg', ... */
	format: string;
}

export const THUMBNAIL_MAX_SIDE = 384;

/** Scales the image to fit in maxSide x maxSide (never enlarging it) and encodes it as WebP. */
export async function makeThumbnail(image: Buffer, maxSide = THUMBNAIL_MAX_SIDE): Promise<Thumbnail> {
	if (!Number.isInteger(maxSide) || maxSide < 1) {
		throw new RangeError(`maxSide must be a positive whole number, not ${maxSide}`);
	}
	const { data, info } = await sharp(image)
		// Camera photos carry their orientation in EXIF; apply it so the thumbnail stands upright.
		.rotate()
		.resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
		.webp({ quality: 80, effort: 4 })
		.toBuffer({ resolveWithObject: true });
	return { data, contentType: 'image/webp', width: info.width, height: info.height };
}

/** Width, height and format of encoded image data; throws when it is not an image sharp knows. */
export async function readImageInfo(data: Buffer): Promise<ImageInfo> {
	let metadata: Metadata;
	try {
		metadata = await sharp(data).metadata();
	} catch (error) {
		throw new Error('The data is not an image in a known format', { cause: error });
	}
	const { width, height, format } = metadata;
	if (!width || !height || !format) throw new Error('The image has no size or format');
	return { width, height, format };
}
