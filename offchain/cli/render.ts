/** Human renderings of the CLI: amounts, losses, tables, the lineage tree and job progress. */
import { DEV_ACCOUNTS, LOCAL_CHAIN_IDS, devAddress } from "../deploy/accounts";
import { amountShort, fromFixedLoss, MAX_FIXED_LOSS } from "../protocol/params";
import type { FollowProgress } from "../sdk/client";
import type { OnChainReceipt } from "../sdk/job-market";
import type { LineageNode } from "../sdk/registry";

/** Whole tokens with at most 4 decimals, e.g. 2.002 (a small amount keeps its first digits: never "0"). */
export function tokens(wei: bigint): string {
  return amountShort(wei);
}

/** A signed change in whole tokens, e.g. +3 or −2.002. */
export function delta(wei: bigint): string {
  return wei < 0n ? `−${tokens(-wei)}` : `+${tokens(wei)}`;
}

/** A fixed-point loss (×1e6) in nats. */
export function loss(fixed: bigint | number): string {
  // The saturated figure of a loss that overflowed (toFixedLoss) is no number to read.
  return BigInt(fixed) === MAX_FIXED_LOSS ? "∞ (overflowed)" : fromFixedLoss(fixed).toFixed(4);
}

/** A signed loss difference (×1e6), e.g. −1.6063. */
export function lossDelta(fixed: bigint): string {
  return `${fixed < 0n ? "−" : "+"}${loss(fixed < 0n ? -fixed : fixed)}`;
}

export function short(hash: string): string {
  return hash.length > 14 ? `${hash.slice(0, 10)}…${hash.slice(-4)}` : hash;
}

/** Names accounts: on a local chain, the dev accounts by name ("bob 0x3C44…93BC"); elsewhere the short address. */
export function accountNamer(chainId: number): (address: string) => string {
  const names = new Map<string, string>();
  if (LOCAL_CHAIN_IDS.has(chainId)) DEV_ACCOUNTS.forEach((n, i) => names.set(devAddress(i).toLowerCase(), n));
  return (address) => {
    const n = names.get(address.toLowerCase());
    return n ? `${n} ${short(address)}` : short(address);
  };
}

/** Columns aligned: text left, numbers right. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-−+]?[\d.,%]+$|^—$/.test(r[i] ?? "")));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "─".repeat(w))), ...rows.map(line)].join("\n");
}

/** The lineage as a tree, one model a line; `label` renders a node, `mark` is shown after the chosen one. */
export function tree(root: LineageNode, label: (n: LineageNode) => string, mark?: bigint): string[] {
  const lines: string[] = [];
  const walk = (n: LineageNode, prefix: string, last: boolean, top: boolean) => {
    const here = `${label(n)}${mark === n.model.id ? "  ◀" : ""}`;
    lines.push(top ? here : `${prefix}${last ? "└─ " : "├─ "}${here}`);
    const next = top ? "" : `${prefix}${last ? "   " : "│  "}`;
    n.children.forEach((c, i) => walk(c, next, i === n.children.length - 1, false));
  };
  walk(root, "", true, true);
  return lines;
}

export function describeReceipt(r: OnChainReceipt): string[] {
  const m = r.metrics;
  const lines = [
    `receipt      tx ${r.txHash}`,
    `worker       ${r.worker}`,
    `served root  ${r.servedWeightsRoot}`,
    `output hash  ${r.outputHash}`,
    `seed         ${r.seed}`,
  ];
  if (r.childModelId > 0n)
    lines.push(
      `child model  ${r.childModelId} (root ${short(r.childWeightsRoot)})`,
      `val loss     ${loss(m.valLossBefore)} → ${loss(m.valLossAfter)} (train ${loss(m.trainLossBefore)} → ${loss(m.trainLossAfter)})`,
    );
  if (m.evalTokens > 0n)
    lines.push(
      `eval loss    ${loss(m.evalLoss)} (perplexity ${Math.exp(fromFixedLoss(m.evalLoss)).toFixed(1)}) over ${m.evalTokens} tokens`,
    );
  return lines;
}

/** Why a worker stopped a job (its error), else what the job waits for (its note). */
function reasonOf(error: { code?: string; message?: string } | null | undefined, note?: string): string | undefined {
  return error ? `${error.code}${error.message ? `: ${error.message}` : ""}` : note;
}

/** The worker's view of a job in words: its state, phase and steps, what it waits for, or why it stopped. */
export function workerSays(view: Record<string, unknown>): string {
  const p = (view.progress ?? {}) as NonNullable<FollowProgress["progress"]>;
  const error = view.error as { code?: string; message?: string } | null | undefined;
  const parts = [
    p.totalSteps ? `step ${p.step ?? 0}/${p.totalSteps}` : "",
    typeof p.loss === "number" ? `loss ${p.loss.toFixed(3)}` : "",
    p.etaSec ? `about ${Math.ceil(p.etaSec)} s left` : "",
  ].filter(Boolean);
  const reason = reasonOf(error, p.note);
  const why = reason ? ` (${reason})` : "";
  return `${String(view.state ?? "unknown")}${p.phase ? ` · ${p.phase}` : ""}${why}${parts.length ? `, ${parts.join(", ")}` : ""}`;
}

/**
 * Reports a job's progress on stderr: a bar rewritten in place on a terminal; otherwise one line whenever the state
 * or the phase changes, or a quarter more of the steps is done.
 */
export function progressReporter(
  info: (line: string) => void,
  jobId: bigint,
): {
  update(p: FollowProgress): void;
  done(): void;
} {
  const tty = Boolean(process.stderr.isTTY);
  let last = "";
  let lastQuarter = -1;
  let drawn = false;
  let said: string | undefined;
  return {
    update(p) {
      // A worker that did not answer this once leaves its last line as it was (the chain's "claimed" would read as a
      // step back from "running"), until the follow says it has not answered for a while.
      if (!p.state && !p.workerDown && said) return;
      const state = p.state ?? p.status.toLowerCase();
      said = p.state ?? said;
      const pr = p.progress;
      const total = pr?.totalSteps ?? 0;
      const step = pr?.step ?? 0;
      const frac = total > 0 ? Math.min(1, step / total) : 0;
      const bar = total > 0 ? `${"█".repeat(Math.round(frac * 20)).padEnd(20, "░")} ${step}/${total}` : "";
      const lossText = pr?.loss !== undefined && pr.loss !== null ? ` loss ${pr.loss.toFixed(3)}` : "";
      const eta = pr?.etaSec ? ` eta ${Math.ceil(pr.etaSec)}s` : "";
      // What a job waits for (its input, the model's weights, the queue) is the worker's note; why it will not run
      // it (skipped), its error.
      const why = p.workerDown ?? reasonOf(p.error, pr?.note ?? undefined);
      const note = why && (total === 0 || p.workerDown) ? ` (${why})` : "";
      const line =
        `job ${jobId}: ${state}${pr?.phase ? ` · ${pr.phase}` : ""}${note} ${bar}${lossText}${eta}`.trimEnd();
      if (tty) {
        process.stderr.write(`\r\x1b[2K${line}`);
        drawn = true;
        return;
      }
      const quarter = Math.floor(frac * 4);
      const key = `${state}|${pr?.phase ?? ""}|${note.replace(/\d+/g, "#")}`; // a note's figures change every poll
      if (key !== last || quarter !== lastQuarter) info(line);
      last = key;
      lastQuarter = quarter;
    },
    done() {
      if (tty && drawn) process.stderr.write("\n");
    },
  };
}
