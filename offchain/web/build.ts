/**
 * Building the web app from Node (not part of the browser bundle): `posthuman up` builds it on demand when
 * offchain/web/dist is missing, and the browser tests build it fresh. Vite runs as a child process (its CLI), offline.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export const WEB_ROOT = __dirname;
export const WEB_DIST = path.join(WEB_ROOT, "dist");
const VITE_CONFIG = path.join(WEB_ROOT, "vite.config.mjs");

function viteBin(): string | undefined {
  try {
    return path.join(path.dirname(require.resolve("vite/package.json")), "bin", "vite.js");
  } catch {
    return undefined;
  }
}

/** Whether a build is present. */
export function webBuilt(dist: string = WEB_DIST): boolean {
  return fs.existsSync(path.join(dist, "index.html"));
}

/** Newest modification time of the app's sources (index.html, vite.config.mjs, src/**). */
function sourcesTime(): number {
  let newest = 0;
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const f of fs.readdirSync(p)) walk(path.join(p, f));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of ["index.html", "vite.config.mjs", "src"]) walk(path.join(WEB_ROOT, p));
  return newest;
}

/** Runs `vite build`; resolves with the milliseconds it took, rejects with Vite's output when it fails. */
export async function buildWeb(o: { outDir?: string } = {}): Promise<number> {
  const bin = viteBin();
  if (!bin)
    throw new Error("Vite is not installed (it is a dev dependency): run `npm install`, then `npm run build:web`.");
  const started = Date.now();
  const args = [bin, "build", "--config", VITE_CONFIG, ...(o.outDir ? ["--outDir", o.outDir] : [])];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: WEB_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`vite build failed (exit ${code}):\n${out.slice(-4000)}`)),
    );
  });
  return Date.now() - started;
}

/**
 * The folder to serve: the existing build when it is newer than the sources, else a fresh one when Vite is installed.
 * Undefined when there is no build and none can be made here (an install without dev dependencies): the API then
 * serves no pages.
 */
export async function ensureWeb(log: (line: string) => void): Promise<string | undefined> {
  const built = webBuilt();
  const canBuild = viteBin() !== undefined;
  if (built && (!canBuild || fs.statSync(path.join(WEB_DIST, "index.html")).mtimeMs >= sourcesTime())) return WEB_DIST;
  if (!canBuild) {
    log("Web app not built and Vite is not installed: run `npm install && npm run build:web` to get the pages.");
    return undefined;
  }
  log(built ? "Web app sources changed: rebuilding offchain/web/dist…" : "Building the web app (offchain/web/dist)…");
  const ms = await buildWeb();
  log(`Web app built in ${(ms / 1000).toFixed(1)} s.`);
  return WEB_DIST;
}
