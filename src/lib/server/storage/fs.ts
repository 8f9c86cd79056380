import { mkdir, readdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { assertSafeKey, type ImageStorage } from './types';

const contentTypes: Record<string, string> = {
	'.png': 'image/png',
	'.webp': 'image/webp',
	'.jpg': 'image/jpeg',
	'.jpeg': 'image/jpeg'
};

export function createFsStorage(root: string): ImageStorage {
	const base = path.resolve(root);
	const file = (key: string) => {
		assertSafeKey(key);
		return path.join(base, key);
	};
	return {
		kind: 'fs',
		async put(key, data) {
			const target = file(key);
			await mkdir(path.dirname(target), { recursive: true });
			// Write then rename, so a reader never sees half an image.
			const temp = `${target}.${process.pid}.tmp`;
			await writeFile(temp, data);
			await rename(temp, target);
			await removeStaleTemps(target);
		},
		async get(key) {
			try {
				const data = await readFile(file(key));
				return { data, contentType: contentTypes[path.extname(key)] ?? 'application/octet-stream' };
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
				throw error;
			}
		},
		async delete(keys) {
			await Promise.all(keys.map((key) => rm(file(key), { force: true })));
		},
		async check() {
			// What every job does, once: create the folder, write a file in it, remove it again.
			const probe = path.join(base, `.write-check.${process.pid}.tmp`);
			try {
				await mkdir(base, { recursive: true });
				await writeFile(probe, '');
				await rm(probe, { force: true });
			} catch (error) {
				throw new Error(`cannot store images in ${base}: ${explain(error as NodeJS.ErrnoException)}`);
			}
		}
	};
}

/** The file system's refusal in words a person can act on; the error code stays for searching. */
function explain(error: NodeJS.ErrnoException): string {
	const reasons: Record<string, string> = {
		EEXIST: 'it is a file, not a folder',
		ENOTDIR: 'a part of the path is a file, not a folder',
		EACCES: 'permission denied',
		EPERM: 'permission denied',
		EROFS: 'the file system is read-only',
		ENOSPC: 'no space left on the device'
	};
	const reason = error.code ? reasons[error.code] : undefined;
	return reason ? `${reason} (${error.code})` : error.message;
}

/**
 * A worker killed between write and rename leaves its temp file behind; the job then runs again
 * and writes this same key. Once the image is in place, no other writer of it can matter (only
 * the run holding the job's lease completes it), so their temp files go.
 */
async function removeStaleTemps(target: string): Promise<void> {
	const dir = path.dirname(target);
	const prefix = `${path.basename(target)}.`;
	const names = await readdir(dir).catch(() => [] as string[]);
	const stale = names.filter((name) => name.startsWith(prefix) && /^\d+\.tmp$/.test(name.slice(prefix.length)));
	await Promise.all(stale.map((name) => rm(path.join(dir, name), { force: true })));
}
