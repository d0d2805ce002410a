/**
 * The protocol's numbers and encodings, browser-safe (ethers only): fixed-point scales, job kinds and statuses, the
 * ABI encodings of each kind's params, benchmark ids. Shared by the worker, the SDK, the CLI, the web app and the
 * tests; the units and their meaning are documented in docs/contracts.md ("Parameters").
 */
import { ethers } from "ethers";

/** Losses and other metrics are fixed-point integers: value × 1e6 (a loss of 3.2581 nats is 3258100). */
export const LOSS_SCALE = 1_000_000n;
/** Learning rate and weight decay in TrainParams are value × 1e9 (3e-4 is 300000). */
export const RATE_SCALE = 1_000_000_000n;
/** Temperature in InferParams is value × 1e6. */
export const TEMPERATURE_SCALE = 1_000_000n;
/** An Ocean order (and so every job request) consumes exactly one datatoken. */
export const ONE_DATATOKEN = 10n ** 18n;

/** An amount of 18-decimal tokens in words: "10", "2.5", "0.000000000000000001" (no trailing ".0"). */
export function amountText(wei: bigint): string {
  return ethers.formatEther(wei).replace(/\.0$/, "");
}

/**
 * Whole tokens with at most `digits` decimals, trailing zeros dropped (1.5, 10, 0.0312), for tables and lines: an
 * amount below the last digit shown keeps its first two significant ones (a fee of 0.000001 is not "0").
 */
export function amountShort(wei: bigint, digits = 4): string {
  const [i, f = ""] = ethers.formatEther(wei).split(".");
  const shown = i === "0" && wei > 0n && !/[1-9]/.test(f.slice(0, digits)) ? f.search(/[1-9]/) + 2 : digits;
  const frac = f.slice(0, shown).replace(/0+$/, "");
  return frac ? `${i}.${frac}` : i;
}
/** Fixed supply of every royalty vault's shares. */
export const TOTAL_SHARES = 1_000_000n * 10n ** 18n;

export const JobKind = { Train: 0, Infer: 1, Evaluate: 2 } as const;
export type JobKindName = keyof typeof JobKind;
export type JobKindValue = (typeof JobKind)[JobKindName];

export const JobStatus = {
  None: 0,
  Open: 1,
  Claimed: 2,
  Submitted: 3,
  Challenged: 4,
  Settled: 5,
  Cancelled: 6,
  Failed: 7,
  Reclaimed: 8,
  Slashed: 9,
} as const;
export type JobStatusName = keyof typeof JobStatus;
/** States a job never leaves. */
export const TERMINAL_STATUSES: readonly number[] = [
  JobStatus.Settled,
  JobStatus.Cancelled,
  JobStatus.Failed,
  JobStatus.Reclaimed,
  JobStatus.Slashed,
];

export const PricingKind = { FixedRate: 0, Dispenser: 1 } as const;

// ─── Encodings ─────────────────────────────────────────────────────────────────────────────────────────────────

export interface TrainParams {
  steps: number;
  batchSize: number;
  contextLength: number;
  /** × 1e9 (RATE_SCALE). */
  learningRate: bigint;
  warmupSteps: number;
  /** × 1e9 (RATE_SCALE). */
  weightDecay: bigint;
}
export interface InferParams {
  maxTokens: number;
  /** × 1e6 (TEMPERATURE_SCALE). */
  temperature: number;
  /** 0: no top-k cut. */
  topK: number;
}
export interface EvaluateParams {
  benchmarkId: string;
  contextLength: number;
  maxTokens: number;
  /** Neither the model's owner nor the worker that trained it may claim the job (the chain refuses their claim). */
  independent?: boolean;
}
export type JobParams =
  | { kind: "Train"; params: TrainParams }
  | { kind: "Infer"; params: InferParams }
  | { kind: "Evaluate"; params: EvaluateParams };

/** Weight decay of the finetunes the CLI, the demo and the web app request. */
export const DEFAULT_WEIGHT_DECAY = 0.01;

/** A rate (learning rate, weight decay) as the chain stores it: × RATE_SCALE, rounded. */
export const toRate = (x: number): bigint => BigInt(Math.round(x * Number(RATE_SCALE)));

/** Train params as the chain encodes them, from the figures a person types (rates as plain numbers). */
export function trainParams(o: {
  steps: number;
  lr: number;
  batch: number;
  context: number;
  warmup?: number;
  weightDecay?: number;
}): JobParams {
  return {
    kind: "Train",
    params: {
      steps: o.steps,
      batchSize: o.batch,
      contextLength: o.context,
      learningRate: toRate(o.lr),
      warmupSteps: o.warmup ?? Math.min(2, o.steps),
      weightDecay: toRate(o.weightDecay ?? DEFAULT_WEIGHT_DECAY),
    },
  };
}

const coder = ethers.AbiCoder.defaultAbiCoder();
const TRAIN_TYPES = ["uint32", "uint32", "uint32", "uint64", "uint32", "uint64"];
const INFER_TYPES = ["uint32", "uint32", "uint32"];
const EVALUATE_TYPES = ["bytes32", "uint32", "uint32", "bool"];

export function encodeTrainParams(p: TrainParams): string {
  return coder.encode(TRAIN_TYPES, [
    p.steps,
    p.batchSize,
    p.contextLength,
    p.learningRate,
    p.warmupSteps,
    p.weightDecay,
  ]);
}
export function encodeInferParams(p: InferParams): string {
  return coder.encode(INFER_TYPES, [p.maxTokens, p.temperature, p.topK]);
}
export function encodeEvaluateParams(p: EvaluateParams): string {
  return coder.encode(EVALUATE_TYPES, [p.benchmarkId, p.contextLength, p.maxTokens, p.independent === true]);
}
export function encodeJobParams(p: JobParams): string {
  if (p.kind === "Train") return encodeTrainParams(p.params);
  if (p.kind === "Infer") return encodeInferParams(p.params);
  return encodeEvaluateParams(p.params);
}

const U32 = 2n ** 32n - 1n;
const U64 = 2n ** 64n - 1n;
/** Each param's ABI range (0 to max) and the scale it is written in (temperature × 1e6, rates × 1e9). */
const RANGES: Record<JobKindName, Record<string, { max: bigint; scale?: bigint }>> = {
  Train: {
    steps: { max: U32 },
    batchSize: { max: U32 },
    contextLength: { max: U32 },
    learningRate: { max: U64, scale: RATE_SCALE },
    warmupSteps: { max: U32 },
    weightDecay: { max: U64, scale: RATE_SCALE },
  },
  Infer: { maxTokens: { max: U32 }, temperature: { max: U32, scale: TEMPERATURE_SCALE }, topK: { max: U32 } },
  Evaluate: { contextLength: { max: U32 }, maxTokens: { max: U32 } },
};

/**
 * The first param a job's encoding cannot carry (not a whole number from 0 to its ABI type's max, once scaled), with
 * its value and largest value in the units people write (a temperature of 5000 is 5000, its most 4294.967295).
 */
export function paramOutOfRange(p: JobParams): { param: string; value: string; max: string } | undefined {
  for (const [param, { max, scale = 1n }] of Object.entries(RANGES[p.kind])) {
    const v = (p.params as unknown as Record<string, unknown>)[param];
    const whole = typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v));
    if (whole && BigInt(v) >= 0n && BigInt(v) <= max) continue;
    const digits = scale.toString().length - 1;
    const typed = Number(v) / Number(scale);
    const value = typeof v === "number" || typeof v === "bigint" ? String(Number(typed.toPrecision(12))) : String(v);
    return { param, value, max: digits ? ethers.formatUnits(max, digits) : max.toString() };
  }
  return undefined;
}

/** Decodes a job's `params` bytes (from JobRequested) according to its kind. */
export function decodeJobParams(kind: number | bigint, data: string): JobParams {
  const k = Number(kind);
  if (k === JobKind.Train) {
    const [steps, batchSize, contextLength, learningRate, warmupSteps, weightDecay] = coder.decode(TRAIN_TYPES, data);
    return {
      kind: "Train",
      params: {
        steps: Number(steps),
        batchSize: Number(batchSize),
        contextLength: Number(contextLength),
        learningRate: BigInt(learningRate),
        warmupSteps: Number(warmupSteps),
        weightDecay: BigInt(weightDecay),
      },
    };
  }
  if (k === JobKind.Infer) {
    const [maxTokens, temperature, topK] = coder.decode(INFER_TYPES, data);
    return {
      kind: "Infer",
      params: { maxTokens: Number(maxTokens), temperature: Number(temperature), topK: Number(topK) },
    };
  }
  if (k === JobKind.Evaluate) {
    const [benchmarkId, contextLength, maxTokens, independent] = coder.decode(EVALUATE_TYPES, data);
    return {
      kind: "Evaluate",
      params: {
        benchmarkId: String(benchmarkId),
        contextLength: Number(contextLength),
        maxTokens: Number(maxTokens),
        independent: Boolean(independent),
      },
    };
  }
  throw new Error(`Unknown job kind ${k}`);
}

/** A benchmark id: keccak256 of its name, e.g. benchmarkId("wikitext-2/loss"). */
export function benchmarkId(name: string): string {
  return ethers.keccak256(ethers.toUtf8Bytes(name));
}

/** The local marketplace's benchmark: Elena's evaluation set (offchain/cli/demo-data/elena-eval.txt). */
export const DEMO_EVAL_SET = {
  name: "posthuman-demo/elena-eval",
  dataHash: "0x1a3a4af416e13318a4853c1abbd406f03db91ef6d96203658979cc87291d2f9b", // its sha256
};
/** Benchmarks whose data is known (its sha256): an evaluation that names none is on one only when run on that data. */
export const KNOWN_BENCHMARKS: readonly { name: string; dataHash: string }[] = [DEMO_EVAL_SET];

/** The name of a known benchmark (KNOWN_BENCHMARKS) by its id, or undefined: an id alone does not say its name. */
export function knownBenchmarkName(id: string): string | undefined {
  return KNOWN_BENCHMARKS.find((b) => benchmarkId(b.name) === id)?.name;
}

/**
 * The benchmark an evaluation reports on, so that its loss is compared with a baseline only on the baseline's data:
 * the one named (the requester vouches that its input is that benchmark's data), else the model's declared one when
 * the input is that benchmark's known data (KNOWN_BENCHMARKS), else "custom" (compared with nothing).
 */
export function evaluationBenchmark(declaredId: string, inputHash: string, named?: string): string {
  if (named) return benchmarkId(named);
  const known = KNOWN_BENCHMARKS.find((b) => benchmarkId(b.name) === declaredId);
  return known && known.dataHash === inputHash.toLowerCase() ? declaredId : benchmarkId("custom");
}

/** The largest fixed-point loss a receipt carries (uint64): a loss that overflowed (∞, NaN) or is larger reads as it. */
export const MAX_FIXED_LOSS = 2n ** 64n - 1n;

/** A loss (nats) as the fixed-point integer the contracts store, saturated at MAX_FIXED_LOSS (not finite too). */
export function toFixedLoss(loss: number): bigint {
  const scaled = loss * Number(LOSS_SCALE);
  if (!Number.isFinite(scaled) || scaled >= Number(MAX_FIXED_LOSS)) return MAX_FIXED_LOSS;
  return BigInt(Math.round(Math.max(0, scaled)));
}

/** A fixed-point loss (× LOSS_SCALE) back in nats. */
export function fromFixedLoss(fixed: bigint | number): number {
  return Number(fixed) / Number(LOSS_SCALE);
}
