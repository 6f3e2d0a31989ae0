import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The bundle is embedded in the Go binary (internal/webui) and committed, so
// CI can rebuild it and fail when it differs. It must need nothing at run
// time but its own origin: no inline script (the CSP forbids it), no CDN.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../internal/webui/dist",
    emptyOutDir: true,
    // The preload polyfill would be inline-free but is dead weight: every
    // browser the app supports has modulepreload.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  test: {
    include: ["src/**/*.test.ts"],
  },
});
