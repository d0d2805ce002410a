import { expect } from "chai";
import { compareGas, figureKey, readBaseline, CONSTANT_COST_PAIRS } from "../../offchain/bench/gas-check";
import type { BenchFigure } from "../../offchain/bench/figures";

const fig = (name: string, value: number, params: Record<string, unknown> = {}): BenchFigure => ({
  name,
  value,
  unit: "gas",
  params,
});
const claims = (depth1: number, depth32: number, h2: number, h50: number) => [
  fig("claim revenue", depth1, { depth: 1 }),
  fig("claim revenue", depth32, { depth: 32 }),
  fig("claim revenue", h2, { holders: 2 }),
  fig("claim revenue", h50, { holders: 50 }),
];

describe("the gas gate (offchain/bench/gas-check.ts)", () => {
  describe("compareGas", () => {
    const baseline = [fig("settle job", 100_000), ...claims(130_000, 130_000, 170_000, 170_000)];

    it("passes figures within 5% of the baseline", () => {
      const current = [fig("settle job", 104_999), ...claims(130_000, 130_100, 170_000, 170_050)];
      expect(compareGas(current, baseline)).to.deep.equal({ failures: [], notes: [] });
    });

    it("fails a figure that grew by more than 5%, naming it", () => {
      const { failures } = compareGas(
        [fig("settle job", 105_001), ...claims(130_000, 130_000, 170_000, 170_000)],
        baseline,
      );
      expect(failures).to.deep.equal(["settle job: 100000 → 105001 gas (+5.00%, above +5%)"]);
    });

    it("notes a figure that dropped by more than 5% without failing", () => {
      const { failures, notes } = compareGas(
        [fig("settle job", 90_000), ...claims(130_000, 130_000, 170_000, 170_000)],
        baseline,
      );
      expect(failures).to.deep.equal([]);
      expect(notes).to.have.length(1);
    });

    it("fails a figure without a baseline and a baseline figure no longer measured", () => {
      const { failures } = compareGas([fig("new op", 1), ...claims(130_000, 130_000, 170_000, 170_000)], baseline);
      expect(failures).to.have.length(2);
      expect(failures[0]).to.match(/^new op: 1 gas has no baseline/);
      expect(failures[1]).to.match(/^settle job: in the baseline but no longer measured/);
    });

    it("fails when a claim's cost depends on depth or on the number of holders", () => {
      const current = [fig("settle job", 100_000), ...claims(130_000, 140_000, 170_000, 180_000)];
      const { failures } = compareGas(current, [
        fig("settle job", 100_000),
        ...claims(130_000, 140_000, 170_000, 180_000),
      ]);
      expect(failures).to.have.length(2);
      expect(failures[0]).to.contain('claim revenue {"depth":32} costs 140000');
    });
  });

  describe("figureKey", () => {
    it("orders params so that the same figure always has the same key", () => {
      expect(figureKey(fig("x", 1, { b: 1, a: 2 }))).to.equal(figureKey(fig("x", 1, { a: 2, b: 1 })));
      expect(figureKey(fig("x", 1))).to.equal("x");
    });
  });

  describe("the committed baseline", () => {
    it("holds every figure of the constant-cost pairs, within 5% of each other", () => {
      const baseline = readBaseline();
      const keys = new Set(baseline.map(figureKey));
      for (const [a, b] of CONSTANT_COST_PAIRS) expect(keys.has(a) && keys.has(b), `${a} / ${b}`).to.equal(true);
      const { failures } = compareGas(baseline, baseline);
      expect(failures).to.deep.equal([]);
    });
  });
});
