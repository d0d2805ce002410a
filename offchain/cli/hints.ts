/**
 * What to type next, in this command's words. The SDK's errors carry a code, a hint in plain words and (from the
 * front-end-neutral SDK on) `data` with the facts behind them (model id, job id, whether an exchange sells it…);
 * for the codes the command has an answer to, the hint names the `posthuman` command that helps. Anything else
 * keeps the SDK's own hint.
 */
import { MAX_JOB_TTL_SEC, amountText } from "../sdk/core";

type Facts = Record<string, unknown>;

const str = (v: unknown) => (typeof v === "bigint" || typeof v === "number" || typeof v === "string" ? String(v) : "");

/** A path as a shell takes it: quoted when it holds anything but letters, digits and `_./-`. */
const shellWord = (p: string) => (/^[\w./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);

/** The option that sets each job param (offchain/protocol/params.ts's names). */
const FLAGS: Record<string, string> = {
  steps: "--steps",
  batchSize: "--batch",
  contextLength: "--context",
  learningRate: "--lr",
  maxTokens: "--max-tokens",
  temperature: "--temperature",
  topK: "--top-k",
};

/** The command's hint for an SDK error, or undefined to keep the SDK's (`hint`). */
export function commandHint(code: string, data: Facts | undefined, hint?: string): string | undefined {
  const d = data ?? {};
  // A publish whose upload failed after the registration (any code): finish it, never register it again.
  if (d.registered === true && str(d.modelId) && typeof d.dir === "string")
    return (
      `once the worker answers, finish it: posthuman model upload ${shellWord(d.dir)} ${str(d.modelId)} ` +
      `(or run the same model publish again: it resumes model ${str(d.modelId)}, registering and paying nothing twice)`
    );
  switch (code) {
    case "READ_ONLY":
      return "pass --account <name> (a local chain's dev account) or --key-file <file>";
    case "WORKER_UNREACHABLE":
      // The worker of a job that ran (its result's holder): only it will do.
      if (str(d.jobId)) return `fetch it again once that worker answers: posthuman job result ${str(d.jobId)}`;
      return "start one: `npm start` (posthuman up) runs a local marketplace with its worker, `posthuman worker` runs one against any network; or pass --worker <url>";
    case "NOT_ENOUGH_BASE": {
      const local = "on the local chain `posthuman up` gives alice, bob, charlie, derek and elena 10000 OCEAN each";
      // The SDK's facts: how much is missing, and where it must go.
      if (typeof d.have !== "bigint" || typeof d.need !== "bigint" || typeof d.address !== "string")
        return `get OCEAN first (${local})`;
      const n = amountText(d.need - d.have);
      return `get ${n} more OCEAN into ${d.address} (${local}; one can send it: posthuman --account alice send ${d.address} --amount ${n})`;
    }
    case "UNKNOWN_JOB":
      if (!str(d.count)) return undefined;
      return d.count === 0n ? "no job was requested on this chain yet" : `job ids run from 1 to ${str(d.count)}`;
    case "UNKNOWN_MODEL":
      return "list them with: posthuman model list";
    case "MODEL_FROZEN":
      return str(d.reaches) && str(d.modelId)
        ? `pay model ${str(d.reaches)} instead (posthuman pay ${str(d.reaches)} --amount …), or pass --to-frozen to pay model ${str(d.modelId)} anyway`
        : undefined;
    case "MODEL_UNSETTLED": {
      if (!str(d.jobId) || !str(d.listingId)) return undefined;
      const anyway = `buy anyway: posthuman market buy ${str(d.listingId)} --amount <n> --accept-unsettled`;
      const open = d.state === "challengeable" || d.state === "challenged";
      const wait = open ? `wait until it settles (posthuman job show ${str(d.jobId)}), ` : "";
      // A model descending from a frozen one: the upheld job and the lineage say what was proved wrong.
      return str(d.frozenAncestorId) && str(d.upheldJobId)
        ? `${wait}see what was proved wrong (posthuman job show ${str(d.upheldJobId)}, posthuman model lineage ${str(d.modelId)}), or ${anyway}`
        : `${wait}or ${anyway}`;
    }
    case "UNKNOWN_LISTING":
      return "see the open ones with: posthuman market list";
    case "NOT_ENOUGH_DATATOKENS": {
      const m = str(d.modelId);
      if (!m) return undefined;
      if (d.listingId !== undefined) return `take less, or see the others: posthuman market list --model ${m}`;
      if (d.onExchange === undefined) return undefined;
      // What makes a whole datatoken: 1, or the rest of a fraction held (buying 1 would leave a fraction again).
      const missing = str(d.missing);
      const n = missing ? amountText(BigInt(missing)) : "1";
      const what = n === "1" ? "one" : `${n} more`;
      return d.onExchange
        ? `buy ${what} first: posthuman buy ${m} --amount ${n}`
        : `buy ${what} first: posthuman market list --model ${m}, then posthuman market buy <listing> --amount ${n}`;
    }
    case "NO_EXCHANGE":
      return str(d.modelId)
        ? `buy from a holder: posthuman market list --model ${str(d.modelId)}, then posthuman market buy <listing> --amount <n>`
        : undefined;
    case "COST_ABOVE_MAX":
      return typeof d.cost === "bigint" ? `pass --max-cost ${amountText(d.cost)} or more, or ask for fewer` : undefined;
    case "PARAMS_INVALID":
      if (d.param === "amount" && Array.isArray(d.instead))
        return (
          (d.instead.length
            ? `pass --amount ${d.instead.map((x) => amountText(BigInt(String(x)))).join(" or ")}, or `
            : "") + "--allow-fraction to take the fraction anyway (nothing was sent)"
        );
      if (typeof d.param === "string" && str(d.max) && FLAGS[d.param])
        return `pass ${FLAGS[d.param]} ${str(d.max)} or less (nothing was paid)`;
      if (typeof d.param === "string" && str(d.must) && FLAGS[d.param])
        return `pass ${FLAGS[d.param]} ${str(d.must)} (nothing was paid)`;
      if (d.nPositions === undefined) return undefined;
      return d.param === "maxTokens"
        ? `pass --max-tokens below ${str(d.nPositions)} (the prompt takes room too)`
        : `pass --context ${str(d.nPositions)} or less`;
    case "INPUT_NOT_DELIVERED":
      return str(d.jobId)
        ? `cancel it while no worker has claimed it: posthuman job cancel ${str(d.jobId)}; see where it stands: posthuman job show ${str(d.jobId)}`
        : undefined;
    case "WORKER_DECLINES":
      if (d.workerCode === "UNDERPRICED" && typeof d.minFee === "bigint") {
        return `pass --fee ${amountText(d.minFee)} or more (nothing was paid)`;
      }
      if ((d.workerCode === "WOULD_MISS_DEADLINE" || d.workerCode === "DEADLINE_TOO_CLOSE") && str(d.minTtlSec)) {
        if (Number(d.minTtlSec) > MAX_JOB_TTL_SEC) return undefined; // no --ttl allowed would do: the SDK's hint
        return `pass --ttl ${str(d.minTtlSec)} or more (nothing was paid)`;
      }
      if (d.workerCode === "TOO_LONG") return "pass fewer --steps, or a smaller input (nothing was paid)";
      return d.workerCode === "KIND_NOT_SERVED" ? "pass --worker <url> of a worker that runs such jobs" : undefined;
    case "JOB_NOT_TAKEN": {
      if (!str(d.jobId)) return undefined;
      const again =
        d.workerCode === "UNDERPRICED"
          ? ", then request again with a higher --fee"
          : d.workerCode === "WOULD_MISS_DEADLINE" || d.workerCode === "DEADLINE_TOO_CLOSE"
            ? ", then request again with a longer --ttl"
            : d.workerCode === "TOO_LONG"
              ? ", then request again with fewer --steps or a smaller input"
              : "";
      // A folder the worker cannot load: the job was never claimed, so cancelling takes everything back.
      if (d.workerCode === "MODEL_INVALID")
        return `cancel it to get the fee and the datatoken back: posthuman job cancel ${str(d.jobId)}`;
      return `cancel it: posthuman job cancel ${str(d.jobId)}${again}`;
    }
    case "NO_INDEPENDENT_WORKER":
      return "evaluate without --independent, or once another operator's worker has registered its endpoint";
    case "WRONG_CHAIN":
      return "pass the matching --rpc and --deployment";
    case "RESOLVE_REFUSED":
      return d.arbiter
        ? "pass the arbiter's --account or --key-file (on the chain `posthuman up` starts: --account deployer)"
        : undefined;
    case "NOT_REQUESTER":
      return "pass the requester's --account or --key-file";
    case "REVERTED":
      return d.error === "DatatokenMarketNotSeller" ? "pass the seller's --account or --key-file" : undefined;
    case "INPUT_MISSING":
      return hint?.replace("(VerifyOptions.input)", "with --input <file>");
    case "MODEL_FOLDER_MISSING":
      return hint?.replace("(VerifyOptions.modelDir)", "with --model <dir>");
    case "CHAIN_UNREACHABLE":
      return str(d.jobId)
        ? `check that the chain runs (npm start starts the local one; or pass --rpc <url>), then see where job ${str(d.jobId)} stands: ` +
            `posthuman job show ${str(d.jobId)} (and its result, once it has a receipt: posthuman job result ${str(d.jobId)})`
        : undefined;
    case "NO_RECEIPT":
      return str(d.jobId) ? `follow it: posthuman job show ${str(d.jobId)} --follow` : undefined;
    case "JOB_TIMEOUT":
      return d.reclaimable && str(d.jobId)
        ? `get the fee back (and the claimant's collateral): posthuman job reclaim ${str(d.jobId)}`
        : str(d.jobId)
          ? `look again later: posthuman job show ${str(d.jobId)}`
          : undefined;
    default:
      return undefined;
  }
}
