/**
 * The dev accounts the commands sign with (`--account alice`) are written out as constants, to spare each command
 * the key derivation; they must be exactly the accounts of Hardhat's mnemonic, which every local chain funds.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEV_MNEMONIC, devAddress, devKey, resolveWallet } from "../../offchain/deploy/accounts";

describe("dev accounts: the written-out keys are the mnemonic's", () => {
  it("matches m/44'/60'/0'/0/<i> of the dev mnemonic for accounts 0–19", () => {
    const root = ethers.HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0");
    for (let i = 0; i < 20; i++) {
      const w = root.deriveChild(i);
      expect([devAddress(i), devKey(i)], `account ${i}`).to.deep.equal([w.address, w.privateKey]);
    }
  });

  it("signs as the named account on a local chain, and refuses it elsewhere", () => {
    const provider = new ethers.JsonRpcProvider("http://127.0.0.1:1", 31337, { staticNetwork: true });
    expect(resolveWallet({ account: "bob" }, 31337, provider).address).to.equal(devAddress(2));
    expect(() => resolveWallet({ account: "bob" }, 1, provider)).to.throw(/refused on chain 1/);
    provider.destroy();
  });

  it("reads a key file, and says what is wrong with an empty one, a garbled one or a missing one", () => {
    const provider = new ethers.JsonRpcProvider("http://127.0.0.1:1", 31337, { staticNetwork: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-keys-"));
    const file = (name: string, text: string) => (fs.writeFileSync(path.join(dir, name), text), path.join(dir, name));
    const wallet = (keyFile: string) => resolveWallet({ keyFile, env: {} }, 31337, provider);
    expect(wallet(file("bob.key", `${devKey(2)}\n`)).address).to.equal(devAddress(2));
    const empty = file("empty.key", " \n");
    expect(() => wallet(empty)).to.throw(
      `The key file ${empty} is empty: it holds the private key, 0x and 64 hex digits.`,
    );
    expect(() => wallet(file("bad.key", "garbage"))).to.throw("The private key is not 0x followed by 64 hex digits.");
    expect(() => wallet(path.join(dir, "none.key"))).to.throw(/^Cannot read the key file .*none\.key: ENOENT/);
    fs.rmSync(dir, { recursive: true });
    provider.destroy();
  });
});
