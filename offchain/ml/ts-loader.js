// Runs this repository's TypeScript sources without a build step, in the processes a clone starts: the `posthuman`
// command (offchain/cli/posthuman.js requires it) and the builtin executor's child (`node -r <this file> run-job.ts`,
// external-executor.ts). Each file is transpiled once with TypeScript's transpileModule, as ts-node's transpile-only
// mode does, and the JavaScript is cached by content under node_modules/.cache/posthuman-cli: later processes start
// without transpiling again, and without loading the TypeScript compiler at all. (Under ts-node, every job's child
// transpiled run-job.ts and its imports anew: 2.1 s a start, against 0.5 s from this cache.)
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..", "..");

const CACHE = process.env.POSTHUMAN_TS_CACHE || path.join(ROOT, "node_modules", ".cache", "posthuman-cli");
const TSCONFIG = path.join(ROOT, "tsconfig.json");
/** What the transpiled output depends on besides the file: the compiler's version, tsconfig.json, Node, this file. */
const salt = crypto
  .createHash("sha256")
  .update(JSON.parse(fs.readFileSync(require.resolve("typescript/package.json"), "utf8")).version)
  .update(fs.readFileSync(TSCONFIG))
  .update(process.version)
  .update(fs.readFileSync(__filename))
  .digest("hex");

let compilerOptions;
/** The TypeScript compiler and the options of tsconfig.json, loaded at the first file not cached yet. */
function compiler() {
  const ts = require("typescript");
  if (!compilerOptions) {
    const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(TSCONFIG, ts.sys.readFile).config, ts.sys, ROOT);
    compilerOptions = {
      ...parsed.options,
      module: ts.ModuleKind.CommonJS,
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: false,
      declaration: false,
      declarationMap: false,
      noEmit: false,
    };
  }
  return { ts, compilerOptions };
}

function transpile(source, filename) {
  const key = crypto.createHash("sha256").update(salt).update(filename).update(source).digest("hex");
  const cached = path.join(CACHE, key.slice(0, 2), `${key}.js`);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch {
    // not cached yet
  }
  const { ts, compilerOptions: options } = compiler();
  const out = ts.transpileModule(source, { compilerOptions: options, fileName: filename, reportDiagnostics: false });
  try {
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, out.outputText);
    fs.renameSync(tmp, cached);
  } catch {
    // a read-only install still runs, only slower
  }
  return out.outputText;
}

require.extensions[".ts"] = function (module, filename) {
  module._compile(transpile(fs.readFileSync(filename, "utf8"), filename), filename);
};
