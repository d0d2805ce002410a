/**
 * The rule a purchase and a listing of datatokens are checked with before anything is paid (offchain/sdk/
 * whole-datatokens.ts; web trial D7): a job consumes a whole datatoken, so a fraction is bought only to complete one
 * held, and listed only as the fraction the seller holds.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { buyFraction, listFraction, refuseBuyFraction, refuseListFraction } from "../../offchain/sdk/whole-datatokens";
import { SdkError } from "../../offchain/sdk/errors";

const E = (x: string) => ethers.parseEther(x);
const refusal = (f: () => void): SdkError => {
  try {
    f();
  } catch (e) {
    return e as SdkError;
  }
  throw new Error("not refused");
};

describe("datatokens are bought and listed whole", () => {
  it("buying: a whole amount always; a fraction only when it completes the fraction held", () => {
    expect(buyFraction(E("2"), 0n)).to.equal(undefined);
    expect(buyFraction(E("1"), E("0.5"))).to.equal(undefined); // the fraction held stays what it was
    expect(buyFraction(E("0.5"), E("0.5"))).to.equal(undefined);
    expect(buyFraction(E("1.5"), E("2.5"))).to.equal(undefined);
    expect(buyFraction(E("1.5"), 0n)).to.deep.equal({ useless: E("0.5"), instead: [E("2"), E("1")] });
    expect(buyFraction(E("0.5"), 0n)).to.deep.equal({ useless: E("0.5"), instead: [E("1")] });
    expect(buyFraction(E("0.7"), E("0.5"))).to.deep.equal({ useless: E("0.2"), instead: [E("1.5"), E("0.5")] });
  });

  it("refuses a useless fraction before paying, with what to buy instead (every digit)", () => {
    const e = refusal(() => refuseBuyFraction(E("1.5"), 0n, 3n));
    expect(e.code).to.equal("PARAMS_INVALID");
    expect(e.message).to.equal(
      "Buy whole datatokens: each job consumes a whole one, so 0.5 of the 1.5 would pay for no job. Nothing was paid.",
    );
    expect(e.hint).to.equal("buy 2 or 1 instead");
    const held = refusal(() => refuseBuyFraction(E("0.7"), E("0.5"), 3n));
    expect(held.message).to.equal(
      "Buy whole datatokens: each job consumes a whole one, you hold 0.5, so with 0.7 more you would hold 1.2, and 0.2 of it would pay for no job. Nothing was paid.",
    );
    expect(held.hint).to.equal("buy 1.5 or 0.5 instead (which makes what you hold whole)");
    expect(() => refuseBuyFraction(E("0.5"), E("0.5"), 3n)).to.not.throw();
  });

  it("listing: a whole amount, or exactly the fraction held (plus whole ones)", () => {
    expect(listFraction(E("5"), E("10"))).to.equal(undefined);
    expect(listFraction(E("0.5"), E("2.5"))).to.equal(undefined);
    expect(listFraction(E("1.5"), E("2.5"))).to.equal(undefined);
    expect(listFraction(E("0.5"), E("10"))).to.deep.equal({ useless: E("0.5"), instead: [E("1")] });
    const e = refusal(() => refuseListFraction(E("2.5"), E("10"), 2n));
    expect(e.message).to.equal(
      "List whole datatokens: each job consumes a whole one, so 0.5 of the 2.5 would pay for no job of the buyer's. Nothing was listed.",
    );
    expect(e.hint).to.equal("list 3 or 2 instead");
    const part = refusal(() => refuseListFraction(E("0.2"), E("3.5"), 2n));
    expect(part.hint).to.equal(
      "list 1 instead, or list exactly the fraction you hold (0.5), for a buyer who holds the rest",
    );
  });
});
