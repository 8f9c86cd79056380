// The image bucket on Supabase Storage: the one SUPABASE_STORAGE_BUCKET names, made private with
// its owner-reads-own policies at start (a migration cannot read the app's environment, so 0013
// can only make "generations"; ensure_image_bucket in 0020 makes any other the same way).
import type { Sql } from '../db/client';

export type BucketOutcome = 'ready' | 'no-storage-schema' | 'policies-refused';

export async function ensureImageBucket(sql: Sql, bucket: string): Promise<BucketOutcome> {
	const [row] = await sql<{ storage: boolean; ok: boolean }[]>`
		select to_regclass('storage.buckets') is not null as storage, public.ensure_image_bucket(${bucket}) as ok`;
	if (!row!.storage) return 'no-storage-schema';
	return row!.ok ? 'ready' : 'policies-refused';
}
