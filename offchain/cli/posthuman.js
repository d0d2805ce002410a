#!/usr/bin/env node
// The `posthuman` command. Runs the TypeScript sources as they are, so a fresh clone needs no build step
// (`npm run typecheck` checks the types). Each file is transpiled once with TypeScript's transpileModule, as ts-node's
// transpile-only mode does, and the JavaScript is cached by content under node_modules/.cache/posthuman-cli: the
// next command starts without transpiling the typed contract bindings again.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..", "..");

// The npm package ships the SDK, the helpers, the bindings, the ABIs and the Solidity interfaces, not the command's
// TypeScript sources (nor Hardhat, which `up` runs): say so plainly instead of failing on a missing module.
if (!fs.existsSync(path.join(__dirname, "main.ts")) || !fs.existsSync(path.join(ROOT, "tsconfig.json"))) {
  process.stderr.write(
    "The posthuman command runs from a clone of the repository: git clone <the PostHuman repository>, then npm ci,\n" +
      "then npx posthuman --help (or npm start for the local marketplace).\n" +
      "This installed package is for integrators: require('posthuman') for the SDK, 'posthuman/helpers',\n" +
      "'posthuman/typechain', 'posthuman/abi/<Contract>.json', and posthuman/contracts/interfaces/*.sol (docs/integrate.md).\n",
  );
  process.exit(1);
}
const ts = require("typescript");
const CACHE = process.env.POSTHUMAN_TS_CACHE || path.join(ROOT, "node_modules", ".cache", "posthuman-cli");

const configFile = path.join(ROOT, "tsconfig.json");
const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(configFile, ts.sys.readFile).config, ts.sys, ROOT);
const compilerOptions = {
  ...parsed.options,
  module: ts.ModuleKind.CommonJS,
  sourceMap: false,
  inlineSourceMap: true,
  inlineSources: false,
  declaration: false,
  declarationMap: false,
  noEmit: false,
};
const salt = crypto
  .createHash("sha256")
  .update(ts.version)
  .update(JSON.stringify(compilerOptions))
  .update(process.version)
  .digest("hex");

function transpile(source, filename) {
  const key = crypto.createHash("sha256").update(salt).update(filename).update(source).digest("hex");
  const cached = path.join(CACHE, key.slice(0, 2), `${key}.js`);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch {
    // not cached yet
  }
  const out = ts.transpileModule(source, { compilerOptions, fileName: filename, reportDiagnostics: false });
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
process.setSourceMapsEnabled(true);

require("./main.ts")
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
