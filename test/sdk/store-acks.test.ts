/** The user's local store keeps a worker's input acknowledgement per job market and job (offchain/sdk/store.ts). */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalStore } from "../../offchain/sdk/store";

describe("sdk: the local store's input acknowledgements", () => {
  const market = "0x" + "ab".repeat(20);
  const ack = "0x" + "12".repeat(65);
  it("gives back an acknowledgement for its market and job only", () => {
    const store = new LocalStore(fs.mkdtempSync(path.join(os.tmpdir(), "ph-acks-")));
    store.saveAck(market, 7n, ack);
    expect(store.ack(market.toUpperCase().replace("0X", "0x"), 7n)).to.equal(ack);
    expect(store.ack(market, 8n)).to.equal(undefined);
    expect(store.ack("0x" + "cd".repeat(20), 7n)).to.equal(undefined);
  });
  it("ignores a kept file that is not an acknowledgement", () => {
    const store = new LocalStore(fs.mkdtempSync(path.join(os.tmpdir(), "ph-acks-")));
    store.saveAck(market, 9n, "not hex");
    expect(store.ack(market, 9n)).to.equal(undefined);
  });
});
