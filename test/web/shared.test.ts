/**
 * The web app shares the model-upload encoding with the worker (offchain/protocol/model-upload.ts, browser-safe) and
 * keeps a browser-safe copy of the dev accounts (offchain/cli/accounts.ts, Node-only). Neither may drift.
 */
import { expect } from "chai";
import { MODEL_FILES } from "../../offchain/protocol/model-upload";
import { sha256Hex } from "../../offchain/protocol/auth";
import { DEV_ACCOUNTS, DEV_MNEMONIC, devWallet } from "../../offchain/deploy/accounts";
import { modelBundle } from "../../offchain/sdk/browser";
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
