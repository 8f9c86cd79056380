// One postgres.js pool (the size of Picture's default) and the app's two tables, made on first use
// in a schema of its own, so the app needs nothing but an empty database. Both wait for the first
// request: the build imports this module too.
import postgres from 'postgres';
import { env } from '$env/dynamic/private';

let pool = null;
let tables = null;

export function db() {
	pool ??= postgres(env.DATABASE_URL, { max: 10, onnotice: () => {} });
	tables ??= pool.begin(async (tx) => {
		await tx`create schema if not exists bare`;
		await tx`
			create table if not exists bare.generations (
				id bigint generated always as identity primary key,
				prompt text not null,
				model_id text not null,
				width int not null,
				height int not null,
				status text not null default 'pending',
				created_at timestamptz not null default now()
			)`;
		await tx`
			create table if not exists bare.jobs (
				id bigint generated always as identity primary key,
				generation_id bigint not null references bare.generations (id),
				payload jsonb not null,
				created_at timestamptz not null default now()
			)`;
	});
	return tables.then(() => pool);
}
