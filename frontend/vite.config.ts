/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The app lives under /researcher/ behind the front door, which proxies /api
// to the API; `npm run dev` does the same against a platform on :8080.
const platform = process.env.CRUCIBLE_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/researcher/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 4096 },
  worker: { format: "es" },
  server: { proxy: { "/api": platform } },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    css: false,
    // The suite shares a small machine with everything else run-tests.sh starts.
    testTimeout: 30_000,
  },
});
