/**
 * What an evaluation's loss is compared with: the baseline declared on a benchmark, only for a run on that benchmark's
 * data. A run names its benchmark (the requester vouches for its data) or, naming none, is on the declared one only
 * when its input is that benchmark's known data; the web page sets a child's runs against its lineage root's baseline.
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { DEMO_EVAL_SET, benchmarkId, evaluationBenchmark, knownBenchmarkName } from "../../offchain/protocol/params";
import { sha256Hex } from "../../offchain/protocol/auth";
import { baselineOf } from "../../offchain/web/src/pages/graphs";
import type { ModelInfo, Snapshot } from "../../offchain/web/src/chain";

const DEMO = path.join(__dirname, "..", "..", "offchain", "cli", "demo-data");
const demoId = benchmarkId(DEMO_EVAL_SET.name);
const custom = benchmarkId("custom");

describe("evaluations: compared with a baseline only on its benchmark's data", () => {
  it("knows the demo's evaluation set by its sha256", () => {
    expect(sha256Hex(fs.readFileSync(path.join(DEMO, "elena-eval.txt")))).to.equal(DEMO_EVAL_SET.dataHash);
    expect(knownBenchmarkName(demoId)).to.equal("posthuman-demo/elena-eval"); // (model show names it)
    expect(knownBenchmarkName(benchmarkId("wikitext-2/loss"))).to.equal(undefined);
  });

  it("reports a run on the declared benchmark only for its known data, or when the requester names it", () => {
    const elena = sha256Hex(fs.readFileSync(path.join(DEMO, "elena-eval.txt")));
    const corpus = sha256Hex(fs.readFileSync(path.join(DEMO, "alice-corpus.txt")));
    expect(evaluationBenchmark(demoId, elena)).to.equal(demoId);
    expect(evaluationBenchmark(demoId, elena.toUpperCase().replace("0X", "0x"))).to.equal(demoId);
    // The model's own training corpus is not the benchmark: compared with nothing (it was 2.9 nats "better").
    expect(evaluationBenchmark(demoId, corpus)).to.equal(custom);
    expect(evaluationBenchmark(demoId, corpus, DEMO_EVAL_SET.name)).to.equal(demoId); // vouched for by name
    expect(evaluationBenchmark(demoId, elena, "other/bench")).to.equal(benchmarkId("other/bench"));
    // A benchmark whose data is not known, or none declared: only a named run is on a benchmark.
    expect(evaluationBenchmark(benchmarkId("wikitext-2/loss"), elena)).to.equal(custom);
    expect(evaluationBenchmark(ethers.ZeroHash, elena)).to.equal(custom);
    expect(evaluationBenchmark(ethers.ZeroHash, elena, "wikitext-2/loss")).to.equal(benchmarkId("wikitext-2/loss"));
  });

  it("sets a child's runs against its lineage root's declared baseline, not its trainer's validation loss", () => {
    const model = (id: bigint, parentId: bigint, baselineMetric: bigint, bench = demoId, card = {}) =>
      ({ id, card, record: { parentId, baselineMetric, benchmarkId: bench } }) as unknown as ModelInfo;
    const models = [model(1n, 0n, 8_008_100n), model(2n, 1n, 6_583_300n), model(3n, 2n, 6_100_000n)];
    const snap = { byId: new Map(models.map((m) => [m.id.toString(), m])) } as unknown as Snapshot;
    const root = { metric: 8_008_100n, benchmarkId: demoId, rootId: 1n, benchmarkName: undefined };
    expect(models.map((m) => baselineOf(snap, m))).to.deep.equal([root, root, root]);
    // The name the root's card declares, when it hashes to the benchmark on chain (else none: a card cannot lie).
    const named = [model(6n, 0n, 8_000_000n, demoId, { benchmark: DEMO_EVAL_SET.name })];
    const snap3 = { byId: new Map(named.map((m) => [m.id.toString(), m])) } as unknown as Snapshot;
    expect(baselineOf(snap3, named[0])?.benchmarkName).to.equal(DEMO_EVAL_SET.name);
    const lying = [model(7n, 0n, 8_000_000n, demoId, { benchmark: "other/bench" })];
    const snap4 = { byId: new Map(lying.map((m) => [m.id.toString(), m])) } as unknown as Snapshot;
    expect(baselineOf(snap4, lying[0])?.benchmarkName).to.equal(undefined);
    const bare = [model(4n, 0n, 0n, ethers.ZeroHash), model(5n, 4n, 7_000_000n)];
    const snap2 = { byId: new Map(bare.map((m) => [m.id.toString(), m])) } as unknown as Snapshot;
    expect(bare.map((m) => baselineOf(snap2, m))).to.deep.equal([undefined, undefined]);
  });
});
