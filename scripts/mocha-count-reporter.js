// Mocha reporter: the spec reporter's output, the ten slowest top-level suites (hooks included, so the suite's time
// budget can be kept), then a plain closing line `N passed, N failed` (with `, N skipped` when some were pending)
// that CI reads.
"use strict";
const Mocha = require("mocha");
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END } = Mocha.Runner.constants;

class CountReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    const started = new Map();
    const took = [];
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      if (suite.parent && suite.parent.root) started.set(suite, Date.now());
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      if (started.has(suite)) took.push([Date.now() - started.get(suite), suite.title]);
    });
    runner.once(EVENT_RUN_END, () => {
      const s = this.stats;
      took.sort((a, b) => b[0] - a[0]);
      process.stdout.write("\nslowest suites:\n");
      for (const [ms, title] of took.slice(0, 10))
        process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${title}\n`);
      const skipped = s.pending ? `, ${s.pending} skipped` : "";
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed${skipped}\n`);
    });
  }
}
module.exports = CountReporter;
