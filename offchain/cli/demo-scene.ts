/**
 * The stage of `posthuman demo`: the five people with their SDK clients, how the story talks (steps, notes,
 * transactions), the ledger of everyone's balances, and how jobs are followed to their receipts and verified by
 * re-execution in the background while the story goes on.
 */
import path from "node:path";
import { ethers } from "ethers";
import { devWallet, DEV_ACCOUNTS } from "../deploy/accounts";
import type { AddressBook } from "../protocol/address-book";
import { DEMO_EVAL_SET } from "../protocol/params";
import { PostHuman } from "../sdk/client";
import type { OnChainReceipt } from "../sdk/job-market";
import type { Verdict } from "../sdk/verify";
import type { Output } from "./output";
import { delta, short } from "./render";

export const DATA = path.join(__dirname, "demo-data");
export const PEOPLE = ["alice", "bob", "charlie", "derek", "elena"] as const;
export type Person = (typeof PEOPLE)[number];
export const DEMO_BENCHMARK = DEMO_EVAL_SET.name;
export const CONTEXT = 64;
export const LR = 0.003;
export const BATCH = 8;

/** A receipt of the story and whether re-running its job reproduced it. */
export interface ReceiptCheck {
  job: string;
  kind: string;
  who: string;
  model: string;
  outputHash: string;
  verified: boolean;
}

/** A holder of base token and datatokens whose changes the story prints. */
interface Holder {
  name: string;
  address: string;
}

export type Snapshot = Map<string, bigint>;

/** The base token and datatokens of everyone the story touches, and what changed since the last step. */
export class Ledger {
  readonly holders: Holder[];
  private readonly tokensTracked: { name: string; address: string }[];
  /** The story's names of the models (M1, M2, M3) by id. */
  readonly modelName = new Map<bigint, string>();
  private last: Snapshot = new Map();
  first: Snapshot = new Map();

  constructor(
    private readonly reader: PostHuman,
    people: Holder[],
    contracts: AddressBook["contracts"],
  ) {
    this.holders = [
      ...people,
      { name: "worker", address: devWallet(DEV_ACCOUNTS.indexOf("worker")).address },
      { name: "treasury", address: devWallet(DEV_ACCOUNTS.indexOf("treasury")).address },
      { name: "JobMarket escrow", address: contracts.JobMarket },
      { name: "exchange", address: contracts.FixedRateExchange },
      { name: "DatatokenMarket escrow", address: contracts.DatatokenMarket },
      { name: "Ocean fee collector", address: contracts.OPFCommunityFeeCollector },
    ];
    this.tokensTracked = [{ name: "OCEAN", address: contracts.OceanToken }];
  }

  /** Takes the first snapshot: the story's "before". */
  async open(): Promise<void> {
    this.last = await this.snapshot();
    this.first = this.last;
  }

  /** From now on, the model's datatoken and vault are followed too. */
  track(name: string, id: bigint, m: { datatoken: string; vault: string }): void {
    this.modelName.set(id, name);
    this.tokensTracked.push({ name, address: m.datatoken });
    this.holders.push({ name: `${name} vault`, address: m.vault });
  }

  async snapshot(): Promise<Snapshot> {
    const s: Snapshot = new Map();
    await Promise.all(
      this.holders.flatMap((h) =>
        this.tokensTracked.map(async (t) =>
          s.set(`${h.name}|${t.name}`, await this.reader.token(t.address).balanceOf(h.address)),
        ),
      ),
    );
    return s;
  }

  /** Prints what changed since the last step, holder by holder. */
  async balances(note: (line: string) => void): Promise<void> {
    const now = await this.snapshot();
    for (const h of this.holders) {
      const parts = this.tokensTracked
        .map((t) => {
          const k = `${h.name}|${t.name}`;
          const d = (now.get(k) ?? 0n) - (this.last.get(k) ?? 0n);
          return d === 0n ? "" : `${delta(d)} ${t.name === "OCEAN" ? "OCEAN" : `${t.name} DT`}`;
        })
        .filter(Boolean);
      if (parts.length) note(`  ${h.name.padEnd(24)} ${parts.join(", ")}`);
    }
    this.last = now;
  }
}

/** Everything a step of the story uses. */
export interface Scene {
  out: Output;
  clients: Record<Person, PostHuman>;
  addr: Record<Person, string>;
  /** Reads on behalf of the story (any client reads the same chain). */
  reader: PostHuman;
  book: AddressBook;
  ledger: Ledger;
  /** Finetune steps of Bob's and Charlie's jobs. */
  steps: number;
  receipts: ReceiptCheck[];
  /** Re-executions still running. */
  verifications: Promise<unknown>[];
  elapsed(): string;
  say(who: string, what: string): void;
  note(line: string): void;
  tx(label: string, hash: string): void;
  balances(): Promise<void>;
  follow(who: Person, jobId: bigint): Promise<OnChainReceipt>;
  verify(who: Person, receipt: OnChainReceipt, kind: string, model: string): void;
}

/** Each person's SDK client on the demo's chain, sharing one local store (one machine). */
async function peopleClients(
  provider: ethers.Provider,
  book: AddressBook,
  workerUrl: string | undefined,
  dataDir: string,
): Promise<{ clients: Record<Person, PostHuman>; addr: Record<Person, string> }> {
  const clients = {} as Record<Person, PostHuman>;
  const addr = {} as Record<Person, string>;
  for (const p of PEOPLE) {
    const w = devWallet(DEV_ACCOUNTS.indexOf(p));
    addr[p] = w.address;
    clients[p] = await PostHuman.init({
      runner: new ethers.NonceManager(new ethers.Wallet(w.privateKey, provider)),
      book,
      workerUrl,
      // One machine, one store: what each person uploaded or made is kept for verification.
      dataDir: path.join(dataDir, "client"),
    });
  }
  return { clients, addr };
}

/** Follows a job to its receipt, printing a line per state or phase, and checks the fetched result against it. */
async function followJob(s: Scene, who: Person, jobId: bigint): Promise<OnChainReceipt> {
  let shown = "";
  const receipt = await s.clients[who].followJob(jobId, {
    onProgress: (p) => {
      const pr = p.progress;
      const line = `${p.state ?? p.status.toLowerCase()}${pr?.phase ? ` · ${pr.phase}` : ""}${pr?.phase === "train" ? ` ${pr.step}/${pr.totalSteps}` : ""}`;
      // One line per state or phase, and every quarter of the training steps.
      const key =
        pr?.phase === "train"
          ? `${line.split(" ").slice(0, 3).join(" ")}|${Math.floor((4 * (pr.step ?? 0)) / (pr.totalSteps ?? 1))}`
          : line;
      if (key !== shown) s.note(`job ${jobId}: ${line}${pr?.loss ? ` loss ${pr.loss.toFixed(3)}` : ""}`);
      shown = key;
    },
  });
  const res = await s.clients[who].fetchResult(jobId);
  s.note(`receipt: tx ${receipt.txHash}`);
  s.note(
    `  output ${short(receipt.outputHash)} (the result ${who} fetched matches it: ${res.verified}), served weights ${short(receipt.servedWeightsRoot)}`,
  );
  return receipt;
}

/** The scene on a running chain: clients, the ledger's first snapshot, the receipts' follower and verifier. */
export async function setScene(
  out: Output,
  o: {
    provider: ethers.Provider;
    book: AddressBook;
    workerUrl?: string;
    dataDir: string;
    steps: number;
    started: number;
  },
): Promise<Scene> {
  const { clients, addr } = await peopleClients(o.provider, o.book, o.workerUrl, o.dataDir);
  const people = PEOPLE.map((p) => ({ name: p[0].toUpperCase() + p.slice(1), address: addr[p] }));
  const ledger = new Ledger(clients.alice, people, o.book.contracts);
  await ledger.open();
  const note = (line: string) => out.info(`    ${line}`);
  const elapsed = () => `${((Date.now() - o.started) / 1000).toFixed(0)} s`;
  // One re-execution at a time, in job order: each one's model (a parent's child) is rebuilt by the one before.
  let queue: Promise<unknown> = Promise.resolve();
  const s: Scene = {
    out,
    clients,
    addr,
    reader: clients.alice,
    book: o.book,
    ledger,
    steps: o.steps,
    receipts: [],
    verifications: [],
    elapsed,
    say: (who, what) => out.info(`\n▶ ${who} ${what}   [${elapsed()}]`),
    note,
    tx: (label, hash) => note(`${label}: tx ${hash}`),
    balances: () => ledger.balances(note),
    follow: (who, jobId) => followJob(s, who, jobId),
    verify(who, receipt, kind, model) {
      const p = queue.then(async () => {
        const v: Verdict = await clients[who].verify(receipt.jobId, { rebuild: false });
        note(
          `✓ ${who}'s job ${receipt.jobId} (${kind} on ${model}) re-executed locally in ${v.seconds.toFixed(0)} s: ${v.verified ? "VERIFIED" : "MISMATCH"} — ${v.checks.map((c) => `${c.name} ${c.ok ? "✓" : "✗"}`).join(", ")}`,
        );
        s.receipts.push({
          job: receipt.jobId.toString(),
          kind,
          who,
          model,
          outputHash: receipt.outputHash,
          verified: v.verified,
        });
      });
      queue = p.catch(() => undefined);
      s.verifications.push(p);
    },
  };
  return s;
}
