// Build of the marketplace web app (offchain/web): `npm run build:web` writes offchain/web/dist, which
// `posthuman up` serves from the worker's API. Plain TypeScript, no framework; see docs/web.md.
import path from "node:path";
import process from "node:process";
import { defineConfig } from "vite";

const here = import.meta.dirname;
const workerApi = process.env.POSTHUMAN_WORKER_URL ?? "http://127.0.0.1:8550";

export default defineConfig({
  root: here,
  base: "./",
  logLevel: "warn",
  publicDir: false,
  build: {
    outDir: path.join(here, "dist"),
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 1500,
    reportCompressedSize: false,
  },
  // `npx vite offchain/web --config offchain/web/vite.config.mjs` serves the sources with reloads against a running
  // `posthuman up`: the worker's routes are proxied.
  server: {
    host: "127.0.0.1",
    proxy: Object.fromEntries(
      ["/web-config.json", "/healthz", "/jobs", "/models"].map((p) => [p, { target: workerApi, changeOrigin: true }]),
    ),
  },
});
