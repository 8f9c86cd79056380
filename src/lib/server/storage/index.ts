import type { Config } from '../config';
import { createFsStorage } from './fs';
import { createSupabaseStorage } from './supabase';
import type { ImageStorage } from './types';

export type { ImageStorage } from './types';

export function createStorage(config: Config): ImageStorage {
	const { supabaseUrl, serviceRoleKey, bucket, dir } = config.storage;
	if (supabaseUrl && serviceRoleKey) return createSupabaseStorage({ url: supabaseUrl, serviceRoleKey, bucket });
	return createFsStorage(dir);
}
