/**
 * What a user keeps on their own machine to verify receipts later: the inputs they uploaded (by sha256, the on-chain
 * commitment) and the model folders they made, published or rebuilt by verification (by weights root). Layout:
 *   <dir>/inputs/<sha256 hex>        the exact bytes uploaded
 *   <dir>/models/<weights root>/     a Hugging Face GPT-2 folder
 *   <dir>/acks/<market>-<job id>     the claimant's signed acknowledgement of a job's input (for `disputeFailure`)
 * The CLI uses <data-dir> (default ./.posthuman), the same folder `posthuman up` keeps its chain in.
 */
import fs from "node:fs";
import path from "node:path";
import { MODEL_FILES } from "../protocol/model-upload";
import { sha256Hex } from "../protocol/auth";

const hex = (h: string) => h.toLowerCase().replace(/^0x/, "");

export class LocalStore {
  constructor(readonly dir: string) {}

  inputPath(inputHash: string): string {
    return path.join(this.dir, "inputs", hex(inputHash));
  }

  /** Keeps a copy of an input; returns its 0x sha256. */
  saveInput(bytes: Uint8Array): string {
    const hash = sha256Hex(bytes);
    const file = this.inputPath(hash);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(`${file}.tmp`, bytes);
      fs.renameSync(`${file}.tmp`, file);
    }
    return hash;
  }

  /** The input with this sha256, if kept here (and intact). */
  input(inputHash: string): Buffer | undefined {
    const file = this.inputPath(inputHash);
    if (!fs.existsSync(file)) return undefined;
    const bytes = fs.readFileSync(file);
    return sha256Hex(bytes) === `0x${hex(inputHash)}` ? bytes : undefined;
  }

  /** Keeps the claimant's signed acknowledgement of a job's input (per job market: ids repeat across chains). */
  saveAck(market: string, jobId: bigint, inputAck: string): void {
    const file = path.join(this.dir, "acks", `${hex(market)}-${jobId}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, inputAck);
  }

  /** The acknowledgement kept for a job, if any. */
  ack(market: string, jobId: bigint): string | undefined {
    const file = path.join(this.dir, "acks", `${hex(market)}-${jobId}`);
    if (!fs.existsSync(file)) return undefined;
    const ack = fs.readFileSync(file, "utf8").trim();
    return /^0x[0-9a-fA-F]+$/.test(ack) ? ack : undefined;
  }

  modelPath(root: string): string {
    return path.join(this.dir, "models", `0x${hex(root)}`);
  }

  /** The folder of the model with this weights root, if kept here. */
  model(root: string): string | undefined {
    const dir = this.modelPath(root);
    return fs.existsSync(path.join(dir, "config.json")) ? dir : undefined;
  }

  /** Copies a model folder in (its Hugging Face files); returns its weights root. */
  async saveModel(src: string): Promise<string> {
    const { weightsRoot } = await import("../ml/checkpoint");
    const root = await weightsRoot(src);
    const dest = this.modelPath(root);
    if (path.resolve(src) === path.resolve(dest) || this.model(root)) return root;
    const tmp = `${dest}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    for (const name of fs.readdirSync(src)) {
      if (MODEL_FILES.has(name)) fs.copyFileSync(path.join(src, name), path.join(tmp, name));
    }
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
    return root;
  }
}
