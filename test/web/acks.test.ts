/**
 * The web app keeps the claimant's input acknowledgement of each job it requested (offchain/web/src/acks.ts), for the
 * job page's "Dispute the failure" panel. Run here on a Map-backed Storage (the page uses localStorage).
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { ackOf, keepAck, type AckStorage } from "../../offchain/web/src/acks";
import { inputAckDomain, INPUT_ACK_TYPES } from "../../offchain/protocol/input-ack";

function mapStorage(): AckStorage & { size: () => number } {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), size: () => m.size };
}

describe("web app: the input acknowledgements it keeps for disputes", () => {
  const market = ethers.getAddress("0x" + "ab".repeat(20));
  const other = "0x" + "cd".repeat(20);

  it("keeps a claimant's signed acknowledgement per market and job, whatever the address's case", async () => {
    const worker = ethers.Wallet.createRandom();
    const ack = await worker.signTypedData(inputAckDomain(31337, market), INPUT_ACK_TYPES, {
      jobId: 7n,
      inputHash: ethers.ZeroHash,
    });
    const s = mapStorage();
    keepAck(s, market, 7n, ack);
    expect(ackOf(s, market.toLowerCase(), 7n)).to.equal(ack);
    expect(ackOf(s, market, 8n)).to.equal(undefined);
    expect(ackOf(s, other, 7n)).to.equal(undefined);
  });

  it("stores nothing that is not a 65-byte signature, and reads nothing else back", () => {
    const s = mapStorage();
    for (const bad of ["", "0x", "0x1234", "<script>", "0x" + "zz".repeat(65)]) keepAck(s, market, 1n, bad);
    expect(s.size()).to.equal(0);
    s.setItem(`posthuman.ack.${market.toLowerCase()}.1`, "not a signature");
    expect(ackOf(s, market, 1n)).to.equal(undefined);
  });
});
