import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as ort from "onnxruntime-node";
import { OrtProvider, ortSessionOptions } from "../ml/ort-session";

/**
 * Where an onnxruntime graph spends its time, from onnxruntime's own profiler: which provider each node
 * ran on (a node the WebGPU provider does not take runs on the CPU, with copies both ways), the nodes'
 * time by operator, and on WebGPU the GPU's own time per shader program (onnxruntime records timestamp
 * queries around each dispatch when the adapter offers them). The GPU check runs it on the evaluation
 * loss graph and on one decoding step, so a run on a GPU host says what to restructure next.
 */

export interface OpTime {
  name: string;
  count: number;
  /** Milliseconds per run. */
  ms: number;
}

export interface ProfileSummary {
  provider: OrtProvider;
  runs: number;
  /** Wall time of the last run, as onnxruntime timed it (ms). */
  lastRunMs: number;
  /** Nodes and their time per run by provider, e.g. { WebGpuExecutionProvider: { nodes, ms } }. */
  providers: Record<string, { nodes: number; ms: number }>;
  /** Operator types placed on the CPU provider in a session for another provider (the copies' cause). */
  cpuFallbackOps: string[];
  /** Those of them that computed floating-point tensors (not shape arithmetic on int64): work the GPU did not do. */
  cpuFloatOps: string[];
  /** The nodes' time by operator type, per run, slowest first (CPU-side time on an asynchronous provider). */
  nodeOps: OpTime[];
  /** GPU time by shader program, per run, slowest first (empty where there are no timestamp queries). */
  gpuPrograms: OpTime[];
  gpuMs: number;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  ts?: number;
  args?: Record<string, unknown>;
}

function top(m: Map<string, { count: number; us: number }>, runs: number, n: number): OpTime[] {
  return [...m.entries()]
    .map(([name, v]) => ({ name, count: Math.round(v.count / runs), ms: round3(v.us / 1000 / runs) }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n);
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function add(m: Map<string, { count: number; us: number }>, key: string, us: number): void {
  const v = m.get(key) ?? { count: 0, us: 0 };
  v.count += 1;
  v.us += us;
  m.set(key, v);
}

/** Summarises an onnxruntime profile (Chrome trace JSON) of `runs` runs of one session. */
export function summarizeProfile(events: TraceEvent[], provider: OrtProvider, runs: number, topN = 16): ProfileSummary {
  const modelRuns = events.filter((e) => e.cat === "Session" && e.name === "model_run");
  const last = modelRuns[modelRuns.length - 1];
  const byProvider = new Map<string, { count: number; us: number }>();
  const ops = new Map<string, { count: number; us: number }>();
  const gpu = new Map<string, { count: number; us: number }>();
  const fallback = new Set<string>();
  const floats = new Set<string>();
  for (const e of events) {
    if (e.cat === "Node" && e.name?.endsWith("_kernel_time")) {
      const p = String(e.args?.provider ?? "unknown");
      const op = String(e.args?.op_name ?? "unknown");
      add(byProvider, p, e.dur ?? 0);
      add(ops, op, e.dur ?? 0);
      if (provider !== "cpu" && p === "CPUExecutionProvider") {
        fallback.add(op);
        const outs = (e.args?.output_type_shape ?? []) as Array<Record<string, unknown>>;
        if (outs.some((o) => Object.keys(o).some((t) => t.startsWith("float")))) floats.add(op);
      }
    } else if (e.cat === "Api" && e.name && e.args && "cache_key" in e.args) {
      // WebGPU program events are named "node&kernel&program": grouped by kernel and program.
      const parts = e.name.split("&");
      add(gpu, parts.length >= 3 ? `${parts[1]}/${parts[2]}` : e.name, e.dur ?? 0);
    }
  }
  const providers: Record<string, { nodes: number; ms: number }> = {};
  for (const { name, count, ms } of top(byProvider, runs, Infinity)) providers[name] = { nodes: count, ms };
  return {
    provider,
    runs,
    lastRunMs: round3((last?.dur ?? 0) / 1000),
    providers,
    cpuFallbackOps: [...fallback].sort(),
    cpuFloatOps: [...floats].sort(),
    nodeOps: top(ops, runs, topN),
    gpuPrograms: top(gpu, runs, topN),
    gpuMs: round3([...gpu.values()].reduce((s, v) => s + v.us, 0) / 1000 / runs),
  };
}

/**
 * Runs the graph (a file or its bytes) `runs` times on `provider` with onnxruntime's profiler on and summarises the trace; the
 * trace itself is kept at `keepTrace` when given, else removed.
 */
export async function profileGraph(
  file: string | Uint8Array,
  provider: OrtProvider,
  feeds: Record<string, ort.Tensor>,
  opts: { runs?: number; threads?: number; keepTrace?: string } = {},
): Promise<ProfileSummary> {
  const runs = opts.runs ?? 2;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ort-profile-"));
  try {
    const so = {
      ...ortSessionOptions(provider, opts.threads ?? 1),
      enableProfiling: true,
      profileFilePrefix: path.join(dir, "p"),
    };
    // (Two calls: create's overloads take a path or bytes, not the union.)
    const session = await (typeof file === "string"
      ? ort.InferenceSession.create(file, so)
      : ort.InferenceSession.create(file, so));
    try {
      for (let i = 0; i < runs; i++) await session.run(feeds);
      session.endProfiling();
    } finally {
      await session.release();
    }
    const trace = fs.readdirSync(dir).find((f) => f.endsWith(".json"));
    if (!trace) throw new Error(`onnxruntime wrote no profile in ${dir}`);
    const text = fs.readFileSync(path.join(dir, trace), "utf8");
    if (opts.keepTrace) fs.writeFileSync(opts.keepTrace, text);
    return summarizeProfile(JSON.parse(text) as TraceEvent[], provider, runs);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Feeds of one decoding step at batch 1 after `past` tokens, the cache filled with 0.01 (uploaded from the CPU). */
export function decodeStepFeeds(
  c: { n_layer: number; n_head: number; n_embd: number },
  past: number,
): Record<string, ort.Tensor> {
  const int64 = (n: number, f: (j: number) => number): ort.Tensor =>
    new ort.Tensor(
      "int64",
      BigInt64Array.from({ length: n }, (_, j) => BigInt(f(j))),
      [1, n],
    );
  const hd = c.n_embd / c.n_head;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64(1, () => 464),
    attention_mask: int64(past + 1, () => 1),
    position_ids: int64(1, () => past),
  };
  for (let l = 0; l < c.n_layer; l++)
    for (const kv of ["key", "value"]) {
      const cache = new Float32Array(c.n_head * past * hd).fill(0.01);
      feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor("float32", cache, [1, c.n_head, past, hd]);
    }
  return feeds;
}
