// Mocha reporter: the spec reporter's output, the ten slowest top-level suites (hooks included, so the suite's time
// budget can be kept; in parallel mode their tests' own time), then a plain closing line `N passed, N failed` (with
// `, N skipped` when some were pending) that CI reads.
"use strict";
const fs = require("fs");
const Mocha = require("mocha");
const { timesFile } = require("./mocha-file-timing");
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_TEST_END } = Mocha.Runner.constants;

class CountReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    // This run's file times only (the reporter starts before any parallel worker writes one).
    fs.rmSync(timesFile(), { force: true });
    const started = new Map();
    const took = [];
    // Suites by mocha's id: in parallel mode the objects are copies, whose parents carry only their id.
    const id = (x) => (x && x.__mocha_id__) || x;
    const parentOf = new Map();
    let rootId;
    const topOf = (suiteId) => {
      let s = suiteId;
      while (parentOf.has(s) && parentOf.get(s) !== rootId) s = parentOf.get(s);
      return s;
    };
    // In parallel mode a file's events are replayed when it ends, so a suite's wall time reads about 0: its tests'
    // own time (hooks not counted) stands in for it.
    const testsTook = new Map();
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      if (suite.root) return void (rootId = id(suite));
      parentOf.set(id(suite), id(suite.parent));
      if (id(suite.parent) === rootId) started.set(id(suite), [Date.now(), suite.title]);
    });
    runner.on(EVENT_TEST_END, (test) => {
      const top = topOf(id(test.parent));
      testsTook.set(top, (testsTook.get(top) || 0) + (test.duration || 0));
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      const s = started.get(id(suite));
      if (s) took.push([Math.max(Date.now() - s[0], testsTook.get(id(suite)) || 0), s[1]]);
    });
    runner.once(EVENT_RUN_END, () => {
      const s = this.stats;
      took.sort((a, b) => b[0] - a[0]);
      process.stdout.write("\nslowest suites:\n");
      for (const [ms, title] of took.slice(0, 10))
        process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${title}\n`);
      printFileTimes();
      const skipped = s.pending ? `, ${s.pending} skipped` : "";
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed${skipped}\n`);
    });
  }
}
// Each file's wall time as scripts/mocha-file-timing.js wrote it (parallel mode only: hooks included), and the CPU
// time it used with its child processes (on Linux).
function printFileTimes() {
  let lines;
  try {
    lines = fs.readFileSync(timesFile(), "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return;
  }
  const rows = lines.map((l) => l.split("\t")).map(([ms, file, cpu]) => [Number(ms), file, Number(cpu) || 0]);
  rows.sort((a, b) => b[0] - a[0]);
  const total = rows.reduce((sum, [ms]) => sum + ms, 0);
  const cpu = rows.reduce((sum, r) => sum + r[2], 0);
  const cpuSaid = cpu ? `, ${(cpu / 60000).toFixed(1)} min of CPU` : "";
  process.stdout.write(
    `\nslowest files (wall time, hooks included; ${(total / 60000).toFixed(1)} min over all files${cpuSaid}):\n`,
  );
  const n = process.env.POSTHUMAN_TEST_FILE_TIMES === "all" ? rows.length : 15;
  for (const [ms, file, c] of rows.slice(0, n)) {
    const cpuCol = cpu ? `  ${(c / 1000).toFixed(1).padStart(6)} s CPU` : "";
    process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s${cpuCol}  ${file}\n`);
  }
}
module.exports = CountReporter;
