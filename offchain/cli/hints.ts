/**
 * The CLI's words for the SDK's errors: the SDK says what is needed (its hint, and the facts in `data`); the CLI adds
 * the command that does it.
 */
import type { SdkError } from "../sdk/errors";

export function cliHint(e: SdkError): string | undefined {
  const d = e.data;
  const model = d.modelId === undefined ? undefined : String(d.modelId);
  switch (e.code) {
    case "NOT_ENOUGH_DATATOKENS":
      if (d.onExchange === true) return `buy one first: posthuman buy ${model} --amount 1`;
      if (d.onExchange === false)
        return `buy one first: posthuman market list --model ${model}, then posthuman market buy <listing> --amount 1`;
      return e.hint;
    case "NO_EXCHANGE":
      return `buy from a holder: posthuman market list --model ${model}, then posthuman market buy <listing> --amount <n>`;
    case "UNKNOWN_LISTING":
      return model ? `${e.hint}: posthuman market list --model ${model}` : e.hint;
    case "WRONG_CHAIN":
      return "pass the matching --rpc and --deployment";
    case "READ_ONLY":
      return "pass --account or --key-file";
    case "WORKER_UNREACHABLE":
      return (
        "start one: `npm start` (posthuman up) runs a local marketplace with its worker, `posthuman worker` runs one " +
        "against any network; or pass --worker <url>"
      );
    case "JOB_TIMEOUT":
      return d.reclaimable && d.jobId !== undefined
        ? `get the fee back (and the claimant's collateral): posthuman job reclaim ${String(d.jobId)}`
        : d.jobId !== undefined
          ? `look again later: posthuman job show ${String(d.jobId)}`
          : e.hint;
    case "NO_RECEIPT":
      return d.jobId !== undefined ? `follow it: posthuman job show ${String(d.jobId)}` : e.hint;
    case "NOT_REQUESTER":
      return "pass the requester's --account or --key-file";
    case "INPUT_MISSING":
      return e.hint?.replace("(VerifyOptions.input)", "with --input <file>");
    case "MODEL_FOLDER_MISSING":
      return e.hint?.replace("(VerifyOptions.modelDir)", "with --model <dir>");
    default:
      return e.hint;
  }
}
