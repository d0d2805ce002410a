#!/usr/bin/env node
// The README's test command: `hardhat test` (arguments passed on), with TMPDIR pointed at a folder of the run's own,
// removed when the run ends. Tests make temporary chains, models and worker folders, several GB per run, and
// mocha's parallel workers are stopped without their exit handlers running, so the tests cannot be relied on to
// remove them; a full disk then failed a later CI run. Set POSTHUMAN_KEEP_TEST_TMP=1 to keep the folder.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "posthuman-test-"));
const hardhat = require.resolve("hardhat/internal/cli/bootstrap.js");
const child = spawn(process.execPath, [hardhat, "test", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...process.env, TMPDIR: tmp },
});
// Ctrl-C reaches the child through the terminal's process group; a signal sent to this process alone is passed on.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => {
  if (process.env.POSTHUMAN_KEEP_TEST_TMP) console.log(`the tests' temporary files are kept in ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
  process.exitCode = code ?? (signal ? 1 : 0);
});
