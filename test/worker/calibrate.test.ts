/**
 * Admission control's throughput (issue 11, item 3): inference is counted with the KV cache, the defaults are sane
 * for a real model, old inference rates (counted in other units) are dropped, and `--calibrate` measures this
 * machine with the real builtin runtime.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { BuiltinExecutor, createModel } from "../../offchain/ml";
import { encodeJobParams } from "../../offchain/protocol/params";
import { openWorkerDb } from "../../offchain/worker/db";
import { calibrate } from "../../offchain/worker/calibrate";
import {
  createThroughput,
  DEFAULT_POLICY,
  jobWork,
  RUN_OVERHEAD_SEC,
  THROUGHPUT_MIGRATIONS,
} from "../../offchain/worker/policy";

const GPT2_SMALL = { modelParams: 124_439_808, nPositions: 1024 };
const infer = (maxTokens: number) => encodeJobParams({ kind: "Infer", params: { maxTokens, temperature: 0, topK: 0 } });

describe("worker: admission's throughput, and calibrating it on this machine", function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-calibrate-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("counts an inference job's tokens with the KV cache: its prompts and what it generates, never past the context", () => {
    const job = { kind: "infer" as const, params: infer(64), ...GPT2_SMALL };
    // Two prompts in 100 bytes: at most 50 tokens each, + 64 generated.
    expect(jobWork({ ...job, prompts: 2, inputBytes: 100 }, DEFAULT_POLICY)).to.equal(2 * (50 + 64) * 124_439_808);
    // A prompt as long as the context: the context bounds it.
    expect(jobWork({ ...job, prompts: 1, inputBytes: 5000 }, DEFAULT_POLICY)).to.equal(1024 * 124_439_808);
    // Before the input is seen: the policy's assumed prompts of 64 tokens.
    expect(jobWork(job, DEFAULT_POLICY)).to.equal(DEFAULT_POLICY.assumedPrompts * 128 * 124_439_808);
  });

  it("estimates a fresh worker's GPT-2 small jobs in minutes, not hours (what the old defaults gave: 11 h for one prompt)", () => {
    const db = openWorkerDb({ file: path.join(tmp, "fresh.db") });
    const t = createThroughput(db);
    const oneprompt = t.estimateSec(
      { kind: "infer", params: infer(64), ...GPT2_SMALL, prompts: 1, inputBytes: 60 },
      DEFAULT_POLICY,
    );
    expect(oneprompt).to.be.within(RUN_OVERHEAD_SEC, 60);
    const unseen = t.estimateSec({ kind: "infer", params: infer(64), ...GPT2_SMALL }, DEFAULT_POLICY);
    expect(unseen).to.be.below(600);
    db.close();
  });

  it("drops inference rates measured in the old units when it migrates, and keeps the others", () => {
    const file = path.join(tmp, "old.db");
    let db = openWorkerDb({ file });
    db.migrate("throughput", THROUGHPUT_MIGRATIONS.slice(0, 1)); // a database of the previous worker
    const put = db.prepare("INSERT INTO throughput (kind, size_bucket, work_per_sec, runs) VALUES (?, 27, ?, 3)");
    put.run("infer", 5e12);
    put.run("train", 2e9);
    db.close();
    db = openWorkerDb({ file });
    const t = createThroughput(db);
    expect(t.rate("train", GPT2_SMALL.modelParams)).to.equal(2e9);
    expect(t.rate("infer", GPT2_SMALL.modelParams)).to.equal(1e9); // the default until measured again
    db.close();
  });

  it("calibrates every kind with the real builtin runtime, and the estimates follow the measured runs", async () => {
    const model = (await createModel(path.join(tmp, "model"), { preset: "tiny", seed: 3 })).dir;
    const db = openWorkerDb({ file: path.join(tmp, "calibrated.db") });
    const throughput = createThroughput(db);
    const kinds = ["train", "infer", "evaluate"] as const;
    const seen: string[] = [];
    const rows = await calibrate({
      executor: new BuiltinExecutor({ cacheDir: path.join(tmp, "cache") }),
      throughput,
      policy: DEFAULT_POLICY,
      modelDir: model,
      kinds,
      workDir: path.join(tmp, "work"),
      onRun: (k) => seen.push(k),
    });
    expect(seen).to.deep.equal([...kinds]);
    expect(rows.map((r) => r.kind)).to.deep.equal([...kinds]);
    const recorded = db
      .prepare("SELECT kind, runs FROM throughput ORDER BY kind")
      .all<{ kind: string; runs: number }>();
    expect(recorded).to.deep.equal(
      kinds.map((kind) => ({ kind, runs: 1 })).sort((a, b) => a.kind.localeCompare(b.kind)),
    );
    for (const r of rows) {
      expect(r.rate, r.kind).to.be.greaterThan(0);
      // The same job is estimated from its own measurement: start-up + work ÷ rate, where the rate took half the
      // start-up off the measured time; so never below what it took.
      const runSec = r.runMs / 1000;
      expect(r.estimateSec, r.kind).to.be.closeTo(
        RUN_OVERHEAD_SEC + Math.max(runSec - RUN_OVERHEAD_SEC / 2, 0.05),
        1e-6,
      );
      expect(r.estimateSec, r.kind).to.be.at.least(runSec);
    }
    expect(fs.existsSync(path.join(tmp, "work")), "scratch folder removed").to.equal(false);
    db.close();
  });
});
