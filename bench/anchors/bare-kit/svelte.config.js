// The smallest SvelteKit app that does what POST /api/generations and GET /api/models must do, as a
// yardstick for Picture's request path (bench/compare-request.ts builds and starts it).
import adapter from '@sveltejs/adapter-node';

export default { kit: { adapter: adapter({ out: 'build' }) } };
