/**
 * The page's write side: what a person does with an account (buy, sell, request a job, publish, claim), each step
 * checked first so that a refusal reads as a sentence with its fix, not as a revert. Mirrors the SDK's PostHuman
 * client (offchain/sdk/client.ts), which runs on Node only (files, ocean.js); the encodings are the shared ones.
 */
import { ethers } from "ethers";
import { encodeJobParams, JobStatus, ONE_DATATOKEN, type JobParams } from "../../protocol/params";
import { findEvent, jobRequest, publishParams, type PublishModelOptions } from "../../protocol/structs";
import { sha256Hex } from "../../protocol/auth";
import type { Market } from "./chain";
import { UserError, WorkerApiError } from "./errors";
import { duration, STATUS_LABEL, tokens } from "./format";
import type { Account } from "./wallet";
import { modelBundle, type ModelFile, type WorkerApi } from "./worker-api";

/** Why a job in `status` (not Submitted) cannot be challenged, as a sentence. */
function challengeRefusal(jobId: bigint, status: number): UserError {
  if (status === JobStatus.Challenged) {
    return new UserError(
      `The receipt of job ${jobId} is already challenged.`,
      "The arbiter decides; nothing more to do.",
    );
  }
  if (status === JobStatus.Settled) {
    return new UserError(
      `The challenge window of job ${jobId} is closed: the job settled and the worker was paid.`,
      "Nothing was sent and no bond was taken.",
    );
  }
  if (status === JobStatus.Open || status === JobStatus.Claimed) {
    return new UserError(`Job ${jobId} has no receipt yet: there is nothing to challenge.`);
  }
  return new UserError(`Job ${jobId} has ended (${STATUS_LABEL[status] ?? status}): it can no longer be challenged.`);
}

/** Progress lines of a multi-step action ("Approving 2 OCEAN…"), shown live to the person. */
export type Say = (line: string) => void;

export class Actions {
  constructor(
    readonly market: Market,
    readonly worker: WorkerApi,
    readonly account: Account,
    readonly say: Say = () => undefined,
  ) {}

  private get signer(): ethers.Signer {
    return this.account.signer;
  }

  private async send(
    what: string,
    tx: Promise<ethers.ContractTransactionResponse>,
  ): Promise<ethers.TransactionReceipt> {
    this.say(`${what}: waiting for your signature…`);
    const sent = await tx;
    this.say(`${what}: sent (${sent.hash.slice(0, 10)}…), waiting for the block…`);
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`${what}: transaction ${sent.hash} was not mined`);
    if (receipt.status !== 1) throw new Error(`${what}: transaction ${sent.hash} failed`);
    this.say(`${what}: done.`);
    return receipt;
  }

  /** Checks the account holds `amount` base token; the error says how much is missing and where to get it. */
  async needBase(amount: bigint, what: string): Promise<void> {
    const have = await this.market.base.balanceOf(this.account.address);
    if (have < amount) {
      const local = this.market.chainId === 31337 || this.market.chainId === 1337;
      throw new UserError(
        `Not enough OCEAN to ${what}: you hold ${tokens(have)}, it needs ${tokens(amount)}.`,
        local
          ? `Get ${tokens(amount - have)} more OCEAN: every dev account of the local chain starts with 10000; another dev account can send you some.`
          : `Get ${tokens(amount - have)} more OCEAN (the base token) into ${this.account.address}, then try again.`,
      );
    }
  }

  private async approve(token: string, spender: string, amount: bigint, what: string): Promise<void> {
    const t = this.market.datatoken(token, this.signer);
    if ((await t.allowance(this.account.address, spender)) >= amount) return;
    await this.send(`Allowing ${what}`, t.approve(spender, amount));
  }

  // ─── Datatokens ───────────────────────────────────────────────────────────────────────────────────────────

  /** Buys datatokens on Ocean's FixedRateExchange (fees included in the quoted cost). */
  async buyFromExchange(modelId: bigint, amount: bigint): Promise<{ cost: bigint }> {
    const m = await this.market.ph.registry.getModel(modelId);
    if (m.exchangeId === ethers.ZeroHash) {
      throw new UserError(
        `Model ${modelId} is not sold on the exchange.`,
        "Buy its datatokens from a holder's listing instead (below).",
      );
    }
    const { baseTokenAmount: cost } = await this.market.fre.calcBaseInGivenOutDT(m.exchangeId, amount, 0);
    await this.needBase(cost, `buy ${tokens(amount)} datatokens`);
    const fre = this.market.cfg.book.contracts.FixedRateExchange;
    await this.approve(
      this.market.cfg.book.contracts.OceanToken,
      fre,
      cost,
      `the exchange to take ${tokens(cost)} OCEAN`,
    );
    await this.send(
      `Buying ${tokens(amount)} datatokens`,
      this.market.fre.connect(this.signer).buyDT(m.exchangeId, amount, cost, ethers.ZeroAddress, 0),
    );
    return { cost };
  }

  async buyListing(listingId: bigint, amount: bigint): Promise<{ cost: bigint }> {
    const dm = this.market.ph.datatokenMarket;
    const l = await dm.getListing(listingId);
    if (l.remaining < amount) {
      throw new UserError(
        `Listing ${listingId} has ${tokens(l.remaining)} datatokens left, you asked for ${tokens(amount)}.`,
        "Ask for that much or less, or pick another listing.",
      );
    }
    const cost = await dm.quote(listingId, amount);
    await this.needBase(cost, `buy ${tokens(amount)} datatokens`);
    await this.approve(
      this.market.cfg.book.contracts.OceanToken,
      await dm.getAddress(),
      cost,
      `the market to take ${tokens(cost)} OCEAN`,
    );
    await this.send(`Buying ${tokens(amount)} datatokens`, dm.connect(this.signer).buy(listingId, amount, cost));
    return { cost };
  }

  /** Lists datatokens for sale (escrowed by the market until bought or cancelled). */
  async list(modelId: bigint, amount: bigint, price: bigint): Promise<{ listingId: bigint }> {
    const m = await this.market.ph.registry.getModel(modelId);
    const have = await this.market.datatoken(m.datatoken).balanceOf(this.account.address);
    if (have < amount) {
      throw new UserError(
        `You hold ${tokens(have)} datatokens of model ${modelId}; you cannot list ${tokens(amount)}.`,
        "List at most what you hold.",
      );
    }
    const dm = this.market.ph.datatokenMarket;
    await this.approve(m.datatoken, await dm.getAddress(), amount, "the market to hold your datatokens");
    const receipt = await this.send(
      `Listing ${tokens(amount)} datatokens`,
      dm.connect(this.signer).createListing(modelId, amount, price),
    );
    return { listingId: findEvent(dm, receipt, "ListingCreated").args.listingId as bigint };
  }

  /** Cancels one of the account's listings: the market returns the datatokens still in escrow. */
  async cancelListing(listingId: bigint): Promise<{ returned: bigint }> {
    const dm = this.market.ph.datatokenMarket;
    const l = await dm.getListing(listingId);
    if (l.seller.toLowerCase() !== this.account.address.toLowerCase()) {
      throw new UserError(`Listing ${listingId} is not yours: only its seller can cancel it.`);
    }
    if (l.remaining === 0n) {
      throw new UserError(
        `Listing ${listingId} is already closed: it was sold out or cancelled.`,
        "Reload the page to see your open listings.",
      );
    }
    const receipt = await this.send(
      `Cancelling listing ${listingId}`,
      dm.connect(this.signer).cancelListing(listingId),
    );
    return { returned: findEvent(dm, receipt, "ListingCancelled").args.returned as bigint };
  }

  // ─── Jobs ─────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Requests a job (1 datatoken ordered on Ocean, the fee escrowed) and uploads its input to the worker. Checks
   * first: a datatoken, the fee, a worker that answers. Returns the job id.
   */
  async requestJob(modelId: bigint, params: JobParams, input: Uint8Array, fee: bigint): Promise<bigint> {
    if (input.length === 0) throw new UserError("The input is empty.", "Type some text or choose a file.");
    const m = await this.market.ph.registry.getModel(modelId);
    if (m.frozen) throw new UserError(`Model ${modelId} is frozen and takes no new jobs.`);
    const dt = this.market.datatoken(m.datatoken);
    if ((await dt.balanceOf(this.account.address)) < ONE_DATATOKEN) {
      throw new UserError(
        `You hold no datatoken of model ${modelId}: every job consumes 1.`,
        m.exchangeId === ethers.ZeroHash
          ? "Buy one from a holder's listing in “Buy datatokens” on this page, then run the job again."
          : "Buy one on the exchange in “Buy datatokens” on this page, then run the job again.",
        { label: "Go to “Buy datatokens”", href: `#/model/${modelId}/buy` },
      );
    }
    await this.needBase(fee, "escrow the job's fee");
    this.say("Checking that the worker answers…");
    await this.worker.health();
    const market = await this.market.ph.jobMarket.getAddress();
    await this.approve(m.datatoken, market, ONE_DATATOKEN, "the job market to order 1 datatoken");
    await this.approve(
      this.market.cfg.book.contracts.OceanToken,
      market,
      fee,
      `the job market to escrow ${tokens(fee)} OCEAN`,
    );
    const latest = await this.market.provider.getBlock("latest");
    const deadline = BigInt(Math.max(latest?.timestamp ?? 0, Math.floor(Date.now() / 1000)) + 900);
    const receipt = await this.send(
      "Requesting the job",
      this.market.ph.jobMarket.connect(this.signer).requestJob(
        jobRequest({
          modelId,
          kind: params.kind,
          inputHash: sha256Hex(input),
          fee,
          deadline,
          params: encodeJobParams(params),
        }),
      ),
    );
    const jobId = findEvent(this.market.ph.jobMarket, receipt, "JobRequested").args.jobId as bigint;
    this.say(`Job ${jobId} requested. Uploading its input to the worker…`);
    await this.uploadInput(jobId, input);
    this.say(`Job ${jobId}: input uploaded.`);
    return jobId;
  }

  /** Uploads a job's input, waiting briefly for the worker to see the request on chain. */
  async uploadInput(jobId: bigint, input: Uint8Array, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.worker.uploadInput(this.signer, jobId, input);
      } catch (e) {
        if (!(e instanceof WorkerApiError) || e.code !== "UNKNOWN_JOB" || Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** The job's result (requester only) and whether it hashes to the receipt's output hash. */
  async result(jobId: bigint, outputHash: string): Promise<{ bytes: Uint8Array; hash: string; matches: boolean }> {
    const bytes = await this.worker.result(this.signer, jobId);
    const hash = sha256Hex(bytes);
    return { bytes, hash, matches: hash.toLowerCase() === outputHash.toLowerCase() };
  }

  /**
   * Challenges a job's receipt within its challenge window: the job market takes the challenge bond (base token) and
   * the arbiter decides. Checks first that there is a receipt to challenge, that the window is open (in chain time)
   * and that the account holds the bond.
   */
  async challenge(jobId: bigint): Promise<{ bond: bigint }> {
    const jm = this.market.ph.jobMarket;
    const [job, cfg, now] = await Promise.all([jm.getJob(jobId), jm.config(), this.market.chainTime()]);
    const status = Number(job.status);
    if (status !== JobStatus.Submitted) throw challengeRefusal(jobId, status);
    const closesAt = Number(job.submittedAt + cfg.challengeWindow);
    if (now > closesAt) {
      throw new UserError(
        `The challenge window of job ${jobId} is closed: a receipt can be challenged for ${duration(Number(cfg.challengeWindow))} after it is submitted, and this one was submitted ${duration(now - Number(job.submittedAt))} ago.`,
        "Nothing was sent and no bond was taken. The receipt stands and the job settles.",
      );
    }
    const bond = cfg.challengeBond;
    await this.needBase(bond, `post the challenge bond of job ${jobId}`);
    await this.approve(
      this.market.cfg.book.contracts.OceanToken,
      await jm.getAddress(),
      bond,
      `the job market to hold your bond of ${tokens(bond)} OCEAN`,
    );
    await this.send(`Challenging the receipt of job ${jobId}`, jm.connect(this.signer).challengeReceipt(jobId));
    return { bond };
  }

  // ─── Models ───────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Publishes a model folder: the worker computes its weights root (nothing is kept), the model is registered on
   * chain with that root (an Ocean data NFT + datatoken on the exchange), then the signed folder is uploaded to the
   * worker, which checks the root against the chain and serves the model from then on.
   */
  async publish(
    files: ModelFile[],
    o: Omit<PublishModelOptions, "weightsRoot" | "configHash">,
  ): Promise<{ modelId: bigint; weightsRoot: string }> {
    for (const need of ["config.json", "model.safetensors"]) {
      if (!files.some((f) => f.name === need)) {
        throw new UserError(
          `The model folder lacks ${need}.`,
          "Choose every file of the folder: config.json, model.safetensors, tokenizer.json, …",
        );
      }
    }
    const bundle = await modelBundle(files);
    this.say("The worker computes the folder's weights root…");
    const { weightsRoot, configHash } = await this.worker.inspectModel(this.signer, bundle);
    this.say(`Weights root ${weightsRoot.slice(0, 12)}…`);
    const registry = this.market.ph.registry;
    const receipt = await this.send(
      "Registering the model on chain",
      registry.connect(this.signer).publishModel(publishParams({ ...o, weightsRoot, configHash })),
    );
    const modelId = findEvent(registry, receipt, "ModelPublished").args.modelId as bigint;
    this.say(`Model ${modelId} registered. Uploading its files to the worker…`);
    await this.worker.uploadModel(this.signer, modelId, bundle);
    this.say(`Model ${modelId} is published and served.`);
    return { modelId, weightsRoot };
  }

  // ─── Revenue ──────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Claims what the account's vault shares earned on a model. Sales waiting in the exchange are first collected into
   * the vault and unbooked revenue distributed (anyone may do both), so the claim includes everything so far.
   */
  async claim(modelId: bigint): Promise<{ base: bigint; datatokens: bigint }> {
    const m = await this.market.ph.registry.getModel(modelId);
    if (m.exchangeId !== ethers.ZeroHash) {
      const { btBalance } = await this.market.fre.getExchange(m.exchangeId);
      if (btBalance > 0n) {
        await this.send(
          `Collecting ${tokens(btBalance)} OCEAN of sales into the model's vault`,
          this.market.fre.connect(this.signer).collectBT(m.exchangeId, btBalance),
        );
      }
    }
    const vault = this.market.vault(m.vault, this.signer);
    const [pendingBase, pendingDt] = await vault.pending();
    if (pendingBase > 0n || pendingDt > 0n) await this.send("Booking the vault's new revenue", vault.distribute());
    const [base, dt] = await vault.claimable(this.account.address);
    if (base === 0n && dt === 0n) {
      throw new UserError(
        `Nothing to claim on model ${modelId} yet.`,
        "Revenue arrives when someone buys the model's datatokens or runs a job on it (or on one of its children).",
      );
    }
    const receipt = await this.send("Claiming", vault.claim(this.account.address));
    const ev = findEvent(vault, receipt, "RevenueClaimed");
    return { base: ev.args.baseAmount as bigint, datatokens: ev.args.datatokenAmount as bigint };
  }
}
