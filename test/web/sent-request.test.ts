/**
 * The hash of a job request's transaction as it leaves the page (offchain/web/src/sent-request.ts), read from the
 * provider's debug events, on Hardhat's in-process chain: through an injected wallet (an EIP-1193 provider that sends
 * with eth_sendTransaction and answers the hash: Hardhat's own, whose accounts are unlocked, as a wallet behind
 * ethers' BrowserProvider) and through a key signing in the page (eth_sendRawTransaction). The browser story covers
 * the second end to end (test/web/marketplace.test.ts, the chain cut off after Bob's request).
 */
import { expect } from "chai";
import { ethers } from "ethers";
import hre from "hardhat";
import { watchRequest } from "../../offchain/web/src/sent-request";

describe("web app: watchRequest", () => {
  const market = ethers.Wallet.createRandom().address; // where the "request" goes
  const elsewhere = ethers.Wallet.createRandom().address;
  const provider = () => {
    const p = new ethers.BrowserProvider(hre.network.provider as ethers.Eip1193Provider);
    p.pollingInterval = 50;
    return p;
  };

  it("names the transaction an injected wallet sent to the market (its answer to eth_sendTransaction), not another", async () => {
    const p = provider();
    const signer = await p.getSigner(3);
    const sent = watchRequest(p, market);
    try {
      const other = await signer.sendTransaction({ to: elsewhere, value: 1n });
      expect(sent.hash()).to.equal(undefined);
      const tx = await signer.sendTransaction({ to: market, value: 1n });
      const mined = await tx.wait();
      expect(sent.hash()).to.equal(tx.hash).and.to.equal(mined?.hash).and.not.equal(other.hash);
    } finally {
      sent.stop();
    }
    // Stopped: a later transaction is not followed.
    const later = await (await p.getSigner(3)).sendTransaction({ to: market, value: 1n });
    expect(sent.hash()).to.not.equal(later.hash);
  });

  it("names the transaction a key in the page signed and sent raw to the market", async () => {
    const p = provider();
    const funder = await p.getSigner(4);
    const key = ethers.Wallet.createRandom().connect(p);
    await (await funder.sendTransaction({ to: key.address, value: ethers.parseEther("1") })).wait();
    const sent = watchRequest(p, market);
    try {
      const tx = await key.sendTransaction({ to: market, value: 1n });
      expect((await tx.wait())?.hash).to.equal(sent.hash());
    } finally {
      sent.stop();
    }
  });
});
