import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	compilerOptions: { runes: true },
	kit: {
		// BUILD_DIR / SVELTEKIT_OUT_DIR let parallel builds (e.g. several test runs) stay apart.
		adapter: adapter({ out: process.env.BUILD_DIR ?? 'build' }),
		outDir: process.env.SVELTEKIT_OUT_DIR ?? '.svelte-kit',
		// For tests, which call route modules (loads, actions, endpoints) directly. The app itself
		// never imports a route from elsewhere (tests/unit/app/layering.test.ts).
		alias: { $routes: 'src/routes' },
		// Pages' Content-Security-Policy. 'auto': a nonce for SvelteKit's own inline start-up script
		// (a hash on prerendered pages), so script-src needs neither 'unsafe-inline' nor 'unsafe-eval'.
		// Styles stay 'unsafe-inline': Svelte transitions and chart.js write style attributes.
		// Responses that are not pages get a stricter policy in hooks.server.ts.
		csp: {
			mode: 'auto',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				'style-src': ['self', 'unsafe-inline'],
				'img-src': ['self', 'data:', 'blob:'],
				'font-src': ['self'],
				'connect-src': ['self'],
				'object-src': ['none'],
				'base-uri': ['self'],
				'form-action': ['self'],
				'frame-ancestors': ['none']
			}
		}
	}
};

export default config;
