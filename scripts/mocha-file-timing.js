// Mocha root hooks, loaded in each parallel worker (hardhat.config.ts's mocha.require): in parallel mode root
// hooks run once per test file, so the time from the first to the last of them is the file's wall time, hooks and
// all (the chains, workers and `up`s its before() hooks start). Each file's time is appended to a file in the TMPDIR
// (the run's own under `npm test`), which scripts/mocha-count-reporter.js empties when the run starts and prints as
// "slowest files" to keep the suite inside its budget. A serial run (POSTHUMAN_TEST_SERIAL=1) loads no hooks: no table.
//
// With the wall time goes the CPU time the file used: this process's, and that of the child processes it started
// and that ended meanwhile (chains, commands, workers, jobs: /proc's cutime and cstime, Linux only). On two cores
// the suite is CPU-bound, so a file's CPU time is what it costs the others.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");

const timesFile = () => path.join(os.tmpdir(), "posthuman-test-file-times.txt");
let started = 0;
let cpuStarted = 0;

/** CPU seconds of this process and of its children that ended (waited for), or 0 where /proc is not there. */
function cpuSeconds() {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the command name.
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}

exports.mochaHooks = {
  beforeAll() {
    started = Date.now();
    cpuStarted = cpuSeconds();
  },
  afterAll() {
    const files = new Set(this.test.parent.suites.map((s) => s.file).filter(Boolean));
    const names = [...files].map((f) => path.relative(process.cwd(), f)).join(" ");
    const cpu = Math.round((cpuSeconds() - cpuStarted) * 1000);
    if (names) fs.appendFileSync(timesFile(), `${Date.now() - started}\t${names}\t${cpu}\n`);
  },
};
exports.timesFile = timesFile;
