import { onnx } from "onnx-proto";
import * as ort from "onnxruntime-node";

/**
 * Per-row negative log-likelihood of logits [n, V] against targets [n], on onnxruntime:
 * nll = ReduceLogSumExp(row) − row[target], in float32 by onnxruntime's vectorised kernels (a JS float64
 * log-softmax over a 50,257-token vocabulary cost more than the tiny model's forward pass). The caller
 * sums the rows in float64.
 */

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

function nllModel(): Uint8Array {
  const vi = (name: string, elemType: number, dims: string[]): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimParam: d })) } } },
  });
  const node: onnx.INodeProto[] = [
    {
      opType: "ReduceLogSumExp",
      input: ["logits"],
      output: ["lse"],
      attribute: [{ name: "axes", type: A.INTS, ints: [1] }],
    },
    {
      opType: "GatherElements",
      input: ["logits", "targets"],
      output: ["picked"],
      attribute: [{ name: "axis", type: A.INT, i: 1 }],
    },
    { opType: "Sub", input: ["lse", "picked"], output: ["nll"] },
  ];
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      producerName: "posthuman-ml",
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: "token_nll",
        node,
        input: [vi("logits", F, ["n", "vocab"]), vi("targets", I64, ["n", "one"])],
        output: [vi("nll", F, ["n", "one"])],
      },
    }),
  ).finish();
}

const sessions = new Map<number, Promise<ort.InferenceSession>>();

function nllSession(threads: number): Promise<ort.InferenceSession> {
  let s = sessions.get(threads);
  if (!s) {
    s = ort.InferenceSession.create(nllModel(), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      logSeverityLevel: 3,
    });
    sessions.set(threads, s);
  }
  return s;
}

/** Σ nll over the rows of logits [n, vocab] (row-major) against targets [n]; float64 sum of float32 terms. */
export async function nllSum(logits: Float32Array, vocab: number, targets: number[], threads: number): Promise<number> {
  const n = targets.length;
  const session = await nllSession(threads);
  const out = await session.run({
    logits: new ort.Tensor("float32", logits, [n, vocab]),
    targets: new ort.Tensor(
      "int64",
      BigInt64Array.from(targets, (t) => BigInt(t)),
      [n, 1],
    ),
  });
  const nll = out.nll.data as Float32Array;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += nll[i];
  return sum;
}
