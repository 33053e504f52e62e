import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Served by orgman-server under /console; every script and style is a
// file of its own (the page's Content-Security-Policy allows no inline
// script or style).
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 600,
  },
});
