import { listExports } from '$lib/server/admin/export';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = () => ({ exports: listExports() });
