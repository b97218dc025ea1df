/// <reference types="vitest/config" />
// Built into dist/ and served by Django (whitenoise) under /static/; index.html itself is served
// by Django at every non-API path so the session's CSRF cookie is set before the app starts.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const backend = process.env.CRISP_BACKEND ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/static/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    host: "127.0.0.1",
    proxy: { "/api": backend, "/api-auth": backend, "/admin": backend },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    restoreMocks: true,
  },
});
