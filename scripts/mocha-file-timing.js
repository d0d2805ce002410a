// Mocha root hooks, loaded in each parallel worker (hardhat.config.ts's mocha.require): in parallel mode root
// hooks run once per test file, so the time from the first to the last of them is the file's wall time, hooks and
// all (the chains, workers and `up`s its before() hooks start). Each file's time is appended to a file in the TMPDIR
// (the run's own under `npm test`), which scripts/mocha-count-reporter.js empties when the run starts and prints as
// "slowest files" to keep the suite inside its budget. A serial run (POSTHUMAN_TEST_SERIAL=1) loads no hooks: no table.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

const timesFile = () => path.join(os.tmpdir(), "posthuman-test-file-times.txt");
let started = 0;

exports.mochaHooks = {
  beforeAll() {
    started = Date.now();
  },
  afterAll() {
    const files = new Set(this.test.parent.suites.map((s) => s.file).filter(Boolean));
    const names = [...files].map((f) => path.relative(process.cwd(), f)).join(" ");
    if (names) fs.appendFileSync(timesFile(), `${Date.now() - started}\t${names}\n`);
  },
};
exports.timesFile = timesFile;
