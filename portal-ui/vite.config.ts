// Builds the portal page (index.html + hashed assets) and the embeddable custom element
// (assets/element.js, a stable name so apps can reference it) into dist/portal-ui.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  // Relative asset URLs: the module serves the page under a path the app chooses.
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/portal-ui'),
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    rolldownOptions: {
      input: { index: here('index.html'), element: here('src/element.ts') },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'element' ? 'assets/element.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
});
