/**
 * The web app shares the model-upload encoding with the worker (offchain/protocol/model-upload.ts, browser-safe) and
 * keeps a browser-safe copy of the dev accounts (offchain/cli/accounts.ts, Node-only). Neither may drift.
 */
import { expect } from "chai";
import { MODEL_FILES } from "../../offchain/protocol/model-upload";
import { sha256Hex } from "../../offchain/protocol/auth";
import { DEV_ACCOUNTS, DEV_MNEMONIC, devWallet } from "../../offchain/deploy/accounts";
import { modelBundle } from "../../offchain/sdk/browser";
import { parseTokens, tokens } from "../../offchain/web/src/format";
import { MODEL_FILE_NAMES } from "../../offchain/protocol/model-upload";
import {
  DEV_MNEMONIC as WEB_MNEMONIC,
  DEV_PEOPLE,
  devAddress,
  devLabelOf,
  type DevName,
} from "../../offchain/web/src/wallet";

describe("web app: its copies of shared constants match the worker's and the CLI's", () => {
  it("signs uploads over the worker's manifest hash and allows the worker's file names", async () => {
    const files = [
      { name: "model.safetensors", bytes: new Uint8Array([1, 2, 3]) },
      { name: "config.json", bytes: new TextEncoder().encode("{}") },
      { name: "notes.txt", bytes: new Uint8Array([9]) },
    ];
    const b = await modelBundle(files);
    expect(b.entries.map((e) => e.path)).to.deep.equal(["config.json", "model.safetensors"]);
    expect(b.skipped).to.deep.equal(["notes.txt"]);
    expect(Buffer.from(b.body).toString("hex")).to.equal("7b7d010203");
    expect(JSON.parse(Buffer.from(b.header, "base64").toString())).to.deep.equal(b.entries);
    expect(b.entries[1].sha256).to.equal(sha256Hex(new Uint8Array([1, 2, 3])));
    expect([...MODEL_FILE_NAMES].sort()).to.deep.equal([...MODEL_FILES].sort());
  });

  it("derives the dev people at the CLI's account indexes from the same public mnemonic", () => {
    expect(WEB_MNEMONIC).to.equal(DEV_MNEMONIC);
    for (const [name, index] of Object.entries(DEV_PEOPLE)) {
      expect(DEV_ACCOUNTS.indexOf(name as (typeof DEV_ACCOUNTS)[number]), name).to.equal(index);
      expect(devAddress(name as DevName), name).to.equal(devWallet(index).address);
    }
    // And the roles it names for display (the deployer is `up`'s arbiter).
    for (const name of ["deployer", "worker", "treasury"] as const)
      expect(devLabelOf(devWallet(DEV_ACCOUNTS.indexOf(name)).address)).to.equal(name);
    expect(devLabelOf(devWallet(2).address)).to.equal("bob");
    expect(devLabelOf(devWallet(40).address)).to.equal(undefined);
  });
});

describe("web app: amounts as people read and type them", () => {
  it("shows a small amount that is not 0 with its first significant digits, and refuses typed amounts in words", () => {
    const E = (x: string) => BigInt(Math.round(Number(x) * 1e6)) * 10n ** 12n;
    expect(tokens(E("1.5"))).to.equal("1.5");
    expect(tokens(E("0.000001"))).to.equal("0.000001");
    expect(tokens(1n)).to.equal("0.000000000000000001");
    expect(tokens(E("0.00012"))).to.equal("0.0001");
    expect(tokens(0n)).to.equal("0");
    const said = (text: string) => {
      try {
        parseTokens(text, "The fee");
      } catch (e) {
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(said("-5")).to.equal("The fee must be more than 0 (it is -5).");
    expect(said("0")).to.equal("The fee must be more than 0.");
    expect(said("0.0000000000000000001")).to.equal(
      "The fee 0.0000000000000000001 has more than 18 decimals, the most a token has.",
    );
    expect(said("ten")).to.equal('The fee "ten" is not a number: write it like 1 or 2.5.');
    expect(said("2.5")).to.equal("accepted");
  });
});
