/** Model cards in a model's metadataURI or a job's inputURI (offchain/sdk/model-card.ts). */
import { expect } from "chai";
import { CARD_LIMITS, cardURI, readCard } from "../../offchain/sdk/model-card";

describe("sdk: model cards", () => {
  it("round-trips a card through a data: URI, trimmed, without empty fields", () => {
    const uri = cardURI({ name: "  Harbour recipes ", description: "", license: "MIT", sizeBytes: 13_200_000 });
    expect(uri.startsWith("data:application/json,")).to.equal(true);
    expect(readCard(uri)).to.deep.equal({ name: "Harbour recipes", license: "MIT", sizeBytes: 13_200_000 });
    expect(cardURI({ name: " ", description: "" })).to.equal("");
  });

  it("cuts each text to its limit, since the URI is stored on chain", () => {
    const c = readCard(cardURI({ name: "n".repeat(500), readme: "r".repeat(10_000) }));
    expect(c.name).to.have.length(CARD_LIMITS.name);
    expect(c.readme).to.have.length(CARD_LIMITS.readme);
  });

  it("reads nothing from other URIs or bad JSON, and ignores fields it does not know", () => {
    expect(readCard("")).to.deep.equal({});
    expect(readCard("ipfs://bafy")).to.deep.equal({});
    expect(readCard("data:application/json,%7Bnot json")).to.deep.equal({});
    expect(readCard(`data:application/json,${encodeURIComponent('{"name":"x","evil":"<script>"}')}`)).to.deep.equal({
      name: "x",
    });
  });
});
