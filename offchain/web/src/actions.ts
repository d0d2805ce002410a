/**
 * The page's write side: what a person does with an account (buy, sell, request a job, publish, claim, challenge).
 * The flows are the SDK core's (offchain/sdk/core.ts `PostHumanCore`, browser-safe): each checks first, so that a
 * refusal reads as a sentence with its fix (errors.ts words the SDK's errors), and reports its steps as it goes.
 * What is only the page's: the result's hash compared with the receipt.
 */
import { PostHumanCore, isSdkError } from "../../sdk/browser";
import { type JobParams } from "../../protocol/params";
import { type PublishModelOptions } from "../../protocol/structs";
import { sha256Hex } from "../../protocol/auth";
import type { Market } from "./chain";
import { afterSending, UserError } from "./errors";
import { clock } from "./format";
import { watchRequest } from "./sent-request";
import { browserStorage, isAck, keepAck } from "./acks";
import { modelServed, unservedWarning } from "./serving";
import { refuseBuyFraction } from "../../sdk/whole-datatokens";
import type { Account } from "./wallet";
import type { ModelCard, ModelFile } from "../../sdk/browser";

/** The browser's yes/no question (false where there is none to ask: nothing is bought unasked). */
function ask(question: string): boolean {
  const confirm = (globalThis as { confirm?: (message: string) => boolean }).confirm;
  return typeof confirm === "function" && confirm(question);
}

/** Progress lines of a multi-step action ("Approving 2 OCEAN…"), shown live to the person. */
export type Say = (line: string) => void;

export class Actions {
  /** The SDK's flows for this account, reporting their steps to `say`. */
  readonly ph: PostHumanCore;

  constructor(
    readonly market: Market,
    workerUrl: string,
    readonly account: Account,
    readonly say: Say = () => undefined,
  ) {
    this.ph = PostHumanCore.connected(
      { runner: account.signer, provider: market.provider, book: market.cfg.book },
      { workerUrl, onStep: say },
    );
  }

  // ─── Datatokens ───────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Buys datatokens on the exchange, refusing (before anything is paid) an amount that leaves a fraction of a datatoken
   * that pays for no job (each job consumes exactly 1; the SDK's rule, whole-datatokens.ts): a fraction is bought only
   * to complete one held already. A model no worker serves is bought only once the person accepted that.
   */
  async buyFromExchange(modelId: bigint, amount: bigint): Promise<{ cost: bigint }> {
    // The SDK refuses a useless fraction too; checked here first so that nobody answers the question below for nothing.
    const held = await (await this.ph.datatokenOf(modelId)).balanceOf(this.account.address);
    refuseBuyFraction(amount, held, modelId);
    await this.askIfUnserved(modelId);
    return this.ph.buyDatatokens(modelId, amount);
  }

  /**
   * Buys from a holder's listing, with the exchange's rule on fractions. A model whose creating training receipt can
   * still be challenged (frozen if a challenge is upheld, the seller keeping the payment) is bought only once the
   * person accepted that: the SDK refuses it (MODEL_UNSETTLED, nothing paid), the browser asks with its warning, and
   * a yes buys accepting it.
   */
  async buyListing(listingId: bigint, amount: bigint): Promise<{ cost: bigint; modelId: bigint }> {
    const l = await this.ph.listings.get(listingId);
    refuseBuyFraction(amount, await this.ph.token(l.datatoken).balanceOf(this.account.address), l.modelId);
    await this.askIfUnserved(l.modelId);
    try {
      return await this.ph.buyFromListing(listingId, amount);
    } catch (e) {
      // (The question is a fact, not a refusal: nothing was paid yet, so "Nothing was paid" is left out of it.)
      const question = isSdkError(e) ? e.message.replace(/\s*Nothing was paid\.?/, "") : "";
      if (!isSdkError(e, "MODEL_UNSETTLED") || !ask(`${question}\n\nBuy anyway?`)) throw e;
      return this.ph.buyFromListing(listingId, amount, { acceptUnsettled: true });
    }
  }

  /**
   * A model that no worker known here serves (its publisher has not uploaded its files, say) takes no job: its
   * datatokens are bought only once the person accepted that. Said nothing when the workers cannot tell.
   */
  private async askIfUnserved(modelId: bigint): Promise<void> {
    if ((await modelServed(this.market, this.ph.worker, modelId)) !== false) return;
    if (!ask(`${unservedWarning(modelId)}\n\nBuy anyway?`))
      throw new UserError(`Not bought: no worker serves model ${modelId} yet.`, "Nothing was paid.");
  }

  /** Lists datatokens for sale (escrowed by the market until bought or cancelled); the SDK refuses a useless fraction. */
  list(modelId: bigint, amount: bigint, price: bigint): Promise<{ listingId: bigint }> {
    return this.ph.sellDatatokens(modelId, amount, price);
  }

  /** Cancels one of the account's listings: the market returns the datatokens still in escrow. */
  cancelListing(listingId: bigint): Promise<{ returned: bigint }> {
    return this.ph.cancelListing(listingId);
  }

  // ─── Jobs ─────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Requests a job and uploads its input (the SDK's flow); returns the job id. The claimant's acknowledgement of the
   * input is kept in this browser, for a dispute should it fail the job blaming the input. Once the request's
   * transaction is sent, a failure no longer means "nothing was paid": it is said with the transaction, or the job,
   * and a link to check it before trying again (errors.ts `afterSending`).
   */
  async requestJob(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    fee: bigint,
    ttlSec?: number,
    inputURI?: string,
  ): Promise<bigint> {
    const sent = watchRequest(this.account.signer.provider, this.ph.jobs.address);
    let sending = false;
    let jobId: bigint | undefined;
    try {
      const onSending = () => void (sending = true);
      const onRequested = (id: bigint) => void (jobId = id);
      const r = await this.ph.requestJob(modelId, params, input, { fee, ttlSec, inputURI, onSending, onRequested });
      this.keepAck(r.jobId, r.inputAck);
      return r.jobId;
    } catch (e) {
      throw sending ? afterSending(e, { jobId, txHash: sent.hash() }) : e;
    } finally {
      sent.stop();
    }
  }

  /**
   * Uploads a requested job's input again (the first upload was cut short: a reload, a lost connection), once it is
   * checked against the job's commitment: a file that is not the input is refused before anything is sent. The
   * claimant's acknowledgement is kept as at the request.
   */
  async uploadInput(jobId: bigint, input: Uint8Array, inputName: string, inputHash: string): Promise<void> {
    const hash = sha256Hex(input);
    if (hash.toLowerCase() !== inputHash.toLowerCase()) {
      throw new UserError(
        `${inputName} is not job ${jobId}'s input: its sha256 is ${hash.slice(0, 10)}…, the job committed to ${inputHash.slice(0, 10)}….`,
        "Choose the very file (or text) you requested the job with: the worker accepts only the input the request committed to. Nothing was sent.",
      );
    }
    const r = await this.ph.uploadInput(jobId, input, undefined, inputName);
    this.keepAck(jobId, r.inputAck);
  }

  private keepAck(jobId: bigint, ack: string | undefined): void {
    const storage = browserStorage();
    if (ack && storage) keepAck(storage, this.ph.jobs.address, jobId, ack);
  }

  /**
   * Reclaims a job whose deadline passed without a receipt (anyone may): its fee and datatoken go back to its
   * requester, with its claimant's collateral when a worker had claimed it. Refused first, in chain time, where the
   * chain would refuse it.
   */
  async reclaim(jobId: bigint): Promise<{ refund: bigint; slashed: bigint; requester: string }> {
    const [j, now] = await Promise.all([this.ph.jobs.get(jobId), this.ph.chainNow()]);
    if (j.status !== "Open" && j.status !== "Claimed")
      throw new UserError(
        `Job ${jobId} is ${j.status.toLowerCase()} now: it can no longer be reclaimed.`,
        "Reload the page to see where it stands. Nothing was sent.",
      );
    if (now <= j.deadline)
      throw new UserError(
        `Job ${jobId}'s deadline is ${clock(j.deadline)}: until then its worker may still deliver.`,
        "Reclaim it after the deadline. Nothing was sent.",
      );
    this.say(`Reclaiming job ${jobId}…`);
    return this.ph.jobs.reclaim(jobId);
  }

  /** Cancels a job no worker has claimed: its fee and datatoken come back to the requester. */
  cancel(jobId: bigint): Promise<{ refund: bigint }> {
    return this.ph.jobs.cancel(jobId);
  }

  /**
   * Disputes a failure that blames the input the claimant acknowledged (`ack`, the one kept at the request when not
   * given): the SDK checks the failure holds collateral and the claimant signed it, then slashes.
   */
  dispute(jobId: bigint, ack: string): Promise<{ slashed: bigint; reason: string }> {
    if (!isAck(ack)) {
      throw new UserError(
        "That is not an input acknowledgement: it is a 65-byte signature, 0x and 130 hex digits.",
        "Nothing was sent. Paste the acknowledgement the worker returned when you uploaded the input (the CLI keeps it in its data dir, acks/<market>-<job>).",
      );
    }
    return this.ph.disputeFailure(jobId, ack);
  }

  /** The job's result (requester only) and whether it hashes to the receipt's output hash. */
  async result(jobId: bigint, outputHash: string): Promise<{ bytes: Uint8Array; hash: string; matches: boolean }> {
    const { bytes } = await this.ph.fetchResult(jobId); // from the claimant's API, registered on chain
    const hash = sha256Hex(bytes);
    return { bytes, hash, matches: hash.toLowerCase() === outputHash.toLowerCase() };
  }

  /**
   * Challenges a job's receipt within its challenge window: the job market takes the challenge bond (base token) and
   * the arbiter decides. The SDK refuses first, in chain time, what the chain would refuse (no receipt, a closed
   * window, a challenge taken, a join by anyone but the requester or a second one), before the bond's approval.
   */
  challenge(jobId: bigint): Promise<{ bond: bigint }> {
    return this.ph.challengeReceipt(jobId);
  }

  // ─── Models ───────────────────────────────────────────────────────────────────────────────────────────────

  /** Publishes a model folder chosen in a file input (the SDK's `publishFiles`). */
  publish(
    files: ModelFile[],
    o: Omit<PublishModelOptions, "weightsRoot" | "configHash">,
    card?: ModelCard,
  ): Promise<{ modelId: bigint; weightsRoot: string; skipped: string[]; resumed?: boolean }> {
    // (`resumed`: these weights were the account's model already, its upload cut short: uploaded to it now.)
    return this.ph.publishFiles(files, o, card);
  }

  // ─── Revenue ──────────────────────────────────────────────────────────────────────────────────────────────

  /** Collects the model's sales, books its vault and claims the account's share. */
  claim(modelId: bigint): Promise<{ base: bigint; datatokens: bigint }> {
    return this.ph.claimModel(modelId);
  }

  /**
   * Pays OCEAN straight into the model's vault (a licence, a tip; `posthuman pay`): shared like any revenue. The SDK
   * refuses first, before any approval, a balance that falls short and a frozen model unless `toFrozen` (its vault
   * forwards everything to its parent's).
   */
  pay(modelId: bigint, amount: bigint, toFrozen = false): Promise<{ txHash: string; frozen?: string }> {
    return this.ph.pay(modelId, amount, { toFrozen });
  }
}
