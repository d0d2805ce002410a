/**
 * The part of node:crypto that the shared protocol helpers (scripts/lib/posthuman.ts) use, for the browser bundle:
 * createHash("sha256").update(bytes).digest("hex"). Aliased in vite.config.mjs; never used by Node.
 */
import { ethers } from "ethers";

class Sha256 {
  private chunks: Uint8Array[] = [];
  update(data: Uint8Array | string): this {
    this.chunks.push(typeof data === "string" ? ethers.toUtf8Bytes(data) : data);
    return this;
  }
  digest(encoding: "hex"): string {
    if (encoding !== "hex") throw new Error("only hex digests are available in the browser");
    return ethers.sha256(ethers.concat(this.chunks)).slice(2);
  }
}

export function createHash(algorithm: string): Sha256 {
  if (algorithm !== "sha256") throw new Error(`${algorithm} is not available in the browser`);
  return new Sha256();
}
