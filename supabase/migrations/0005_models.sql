-- 0005 models: the catalogue of image models users may pick, with their limits and how sizes map.

create table public.models (
  id              text primary key,
  provider        text not null,
  display_name    text not null,
  description     text not null default '',
  size_mapping    text not null default 'dimensions',
  min_size        integer not null default 256,
  max_size        integer not null default 1024,
  size_step       integer not null default 8,
  max_concurrency integer not null default 4,
  defaults        jsonb not null default '{}'::jsonb,
  enabled         boolean not null default true,
  cost_per_second numeric(12, 6),
  sort_order      integer not null default 0,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),

  constraint provider_valid check (provider in ('local', 'replicate')),
  constraint size_mapping_valid check (size_mapping in ('dimensions', 'aspect_ratio')),
  constraint size_range_valid check (min_size >= 64 and max_size >= min_size and max_size <= 4096),
  constraint size_step_valid check (size_step between 1 and 256),
  constraint max_concurrency_positive check (max_concurrency between 1 and 1000),
  constraint defaults_is_object check (jsonb_typeof(defaults) = 'object'),
  constraint cost_not_negative check (cost_per_second is null or cost_per_second >= 0)
);

alter table public.models enable row level security;
create policy "Anyone can read the catalogue" on public.models for select to anon, authenticated using (true);
create policy "Service role has full access" on public.models for all to service_role using (true) with check (true);
revoke all on public.models from anon, authenticated;
grant select on public.models to anon, authenticated;
grant all on public.models to service_role;

-- The catalogue itself. Costs are Replicate's published per-second prices where known.
insert into public.models
  (id, provider, display_name, description, size_mapping, min_size, max_size, size_step, max_concurrency, defaults, cost_per_second, sort_order)
values
  ('local/preview', 'local', 'Local preview', 'Built-in, fast and rough. Runs on this server, no network.',
   'dimensions', 256, 1024, 8, 4, '{"steps": 12, "detail": "preview"}', null, 10),
  ('local/detailed', 'local', 'Local detailed', 'Built-in, slower with more layers of detail.',
   'dimensions', 256, 1536, 8, 2, '{"steps": 24, "detail": "detailed"}', null, 20),
  ('black-forest-labs/flux-schnell', 'replicate', 'FLUX.1 [schnell]', 'Fast, good quality, 4 steps.',
   'aspect_ratio', 256, 1440, 8, 8, '{"num_inference_steps": 4, "output_format": "png", "go_fast": true}', 0.003, 30),
  ('black-forest-labs/flux-dev', 'replicate', 'FLUX.1 [dev]', 'Slower, more detailed and faithful to the prompt.',
   'aspect_ratio', 256, 1440, 8, 4, '{"num_inference_steps": 28, "output_format": "png", "guidance": 3}', 0.025, 40),
  ('stability-ai/sdxl', 'replicate', 'Stable Diffusion XL', 'Classic SDXL; takes width and height, and a negative prompt.',
   'dimensions', 512, 1024, 8, 4, '{"num_inference_steps": 25, "refine": "no_refiner"}', 0.000975, 50)
on conflict (id) do nothing;
