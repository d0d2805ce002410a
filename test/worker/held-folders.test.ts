/**
 * A model folder the worker holds from before a check it now fails (config.json's eos_token_id against its tokenizer's
 * end of text): every job on it would fail as MODEL_INVALID after its requester paid. The worker says so before: its
 * quote says no (the SDK refuses before paying), its claim skips a job requested without a quote, and it logs the
 * folder once at start-up; nothing is deleted. Real hardhat node, real worker, real store and folders.
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { ethers } from "ethers";
import { requestJob } from "../../offchain/deploy/posthuman";
import { sha256Hex } from "../../offchain/protocol/auth";
import { encodeJobParams, JobStatus, type JobParams } from "../../offchain/protocol/params";
import { PostHuman } from "../../offchain/sdk/client";
import { isSdkError } from "../../offchain/sdk/errors";
import { commandHint } from "../../offchain/cli/hints";
import { createLogger } from "../../offchain/worker/log";
import { publishTinyModel, startWorker, startWorld, type RunningWorker, type World } from "../../offchain/devnet/world";

const INFER: JobParams = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } };
const PROMPTS = Buffer.from("The keeper\n");

/** A logger whose JSON lines land in `lines`. */
function capture() {
  const lines: { level: number; msg: string; modelId?: string; code?: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[0]);
      done();
    },
  });
  return { lines, log: createLogger({ destination, name: "test" }) };
}

describe("a held folder no runtime loads is refused before anyone pays (real hardhat node, real worker)", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker;

  before(async () => {
    w = await startWorld();
    rw = await startWorker(w);
  });
  after(async () => {
    await rw?.worker.stop();
    await w?.stop();
  });

  /**
   * A tiny model of alice's published with config.json's `change`, and held by the worker as one uploaded before the
   * check existed: in its store and its database, as its upload route records an upload (the route itself refuses it).
   */
  async function heldFromBefore(seed: number, change: Record<string, unknown>) {
    const m = await publishTinyModel(w, "alice", seed, { config: change });
    await expect(rw.client.uploadModel(w.wallet("alice"), m.modelId, m.dir)).to.be.rejectedWith(
      /not a GPT-2 checkpoint to serve/,
    );
    const tree = await rw.worker.store.putTree(m.dir);
    rw.worker.jobs.setTree(m.weightsRoot, tree.root, `upload:${w.address("alice")}`);
    rw.worker.jobs.setUpload(m.modelId, m.weightsRoot, tree.root, w.address("alice"));
    return m;
  }

  it("quotes no, the SDK refuses before paying, a job requested all the same is not claimed, and a restart logs the folder", async () => {
    const m = await heldFromBefore(51, { eos_token_id: 7 });
    const says = ["eos_token_id is 7", "its <|endoftext|> token is id 50256"];

    // The quote: no, for good, saying why, without the operator's folder.
    const quote = await rw.client.quote(m.modelId, INFER, { fee: 1n, ttlSec: 3600, input: PROMPTS });
    expect(quote).to.include({ take: false, final: true, code: "MODEL_INVALID" });
    for (const s of says) expect(quote.reason).to.include(s);
    expect(quote.reason).not.to.include(rw.dataDir);

    // The SDK refuses before any transaction: alice's datatokens and base tokens stay where they are.
    const alice = await PostHuman.init({ runner: w.wallet("alice"), book: w.book, workerUrl: rw.worker.apiUrl });
    const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const dtBefore = await dt.balanceOf(w.address("alice"));
    const err = await alice.requestJob(m.modelId, INFER, PROMPTS, { fee: 1n, ttlSec: 3600 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSdkError(err) && err.code, String(err)).to.equal("WORKER_DECLINES");
    if (!isSdkError(err)) return;
    expect(err.data.workerCode).to.equal("MODEL_INVALID");
    expect(err.message).to.include("eos_token_id is 7");
    expect(err.hint).to.match(/^choose another model: .*nothing was paid$/);
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore);
    expect(await dt.balanceOf(w.address("alice"))).to.equal(dtBefore);

    // Requested on the bare contracts (no quote): skipped, never claimed; its requester can cancel it for everything.
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const jobId = await requestJob(w.ph, w.wallet("alice"), {
      modelId: m.modelId,
      kind: "Infer",
      inputHash: sha256Hex(PROMPTS),
      fee: 1n,
      deadline: now + 3600,
      params: encodeJobParams(INFER),
    });
    const row = await rw.worker.pipeline.until(jobId, ["skipped", "claimed", "failed"], 60_000);
    expect([row.state, row.error_code]).to.deep.equal(["skipped", "MODEL_INVALID"]);
    expect(row.error_message).to.include(says[0]);
    expect(Number((await w.ph.jobMarket.getJob(jobId)).status)).to.equal(JobStatus.Open);
    expect(rw.runs.size).to.equal(0);
    // Its requester following it is told the folder is broken there, that the worker was paid nothing, and to cancel.
    const followed = await alice.followJob(jobId, { pollMs: 100, timeoutMs: 60_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSdkError(followed, "JOB_NOT_TAKEN"), String(followed)).to.equal(true);
    if (!isSdkError(followed)) return;
    expect(followed.message).to.match(
      new RegExp(
        `^No worker will take job ${jobId}: model ${m.modelId}'s folder is broken on the worker at \\S+, which ` +
          "holds it but cannot load it \\(MODEL_INVALID: .*eos_token_id is 7.*\\)\\. Nothing was paid to the worker: it " +
          "never claimed the job, which stays open, its fee and datatoken escrowed, until you cancel it \\(both come " +
          "back to you\\)\\.$",
      ),
    );
    expect(commandHint(followed.code, followed.data, followed.hint)).to.equal(
      `cancel it to get the fee and the datatoken back: posthuman job cancel ${jobId}`,
    );

    // Restarted on the same data: the operator reads once which held model it cannot serve, and why; the folder stays.
    await rw.worker.stop();
    const { lines, log } = capture();
    rw = await startWorker(w, "worker", {}, rw.dataDir, undefined, log);
    const said = () => lines.filter((l) => l.code === "MODEL_INVALID" && l.modelId === m.modelId.toString());
    for (let i = 0; i < 100 && said().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(said()).to.have.length(1);
    expect(said()[0].level).to.equal(40); // warn
    expect(said()[0].msg).to.match(new RegExp(`^model ${m.modelId}: this worker holds its folder but cannot serve it`));
    for (const s of says) expect(said()[0].msg).to.include(s);
    const tree = rw.worker.jobs.uploadOf(m.modelId)!.tree_root;
    expect(fs.existsSync(path.join(rw.dataDir, "models", tree, "config.json"))).to.equal(true);
    // A folder that loads is not named, and is quoted as before.
    const good = await publishTinyModel(w, "alice", 52);
    await rw.client.uploadModel(w.wallet("alice"), good.modelId, good.dir);
    const ok = await rw.client.quote(good.modelId, INFER, {
      fee: ethers.parseEther("1"),
      ttlSec: 3600,
      input: PROMPTS,
    });
    expect(ok.take, ok.reason).to.equal(true);
    expect(lines.filter((l) => l.code === "MODEL_INVALID")).to.have.length(1);
  });

  it("quotes no for a held folder whose bos_token_id is not its tokenizer's end of text, the same way", async () => {
    const m = await heldFromBefore(53, { bos_token_id: 7 });
    const quote = await rw.client.quote(m.modelId, INFER, { fee: 1n, ttlSec: 3600, input: PROMPTS });
    expect(quote).to.include({ take: false, final: true, code: "MODEL_INVALID" });
    expect(quote.reason).to.include("bos_token_id is 7 (the id an empty prompt starts from)");
    expect(quote.reason).to.include("its <|endoftext|> token is id 50256");
  });
});
