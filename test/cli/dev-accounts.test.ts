/**
 * The dev accounts the commands sign with (`--account alice`) are written out as constants, to spare each command
 * the key derivation; they must be exactly the accounts of Hardhat's mnemonic, which every local chain funds.
 */
import { expect } from "chai";
import { ethers } from "ethers";
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
});
