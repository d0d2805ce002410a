/**
 * The models this worker holds, as its API uses them: their folders, and ml/input-check.ts's rules applied with a
 * model's own context and tokenizer, to an uploaded job input or to an input a requester asks about before paying.
 */
import fs from "node:fs";
import path from "node:path";
import { cachedTokenizer, DEFAULT_DATASET_LIMITS, normalizeConfig } from "../ml";
import { checkJobInput, type InputCheck } from "../ml/input-check";
import { EXECUTOR_KIND_OF, EXECUTOR_KINDS, inputRulesOf } from "../protocol/job-spec";
import { decodeJobParams, type JobParams } from "../protocol/params";
import type { JobsRepo } from "./jobs";
import type { ArtifactStore } from "./store";

export interface HeldModels {
  jobs: JobsRepo;
  store: ArtifactStore;
  dataDir: string;
}

/** The folder of a model this worker serves (uploaded by its owner, or trained here), materialized; else undefined. */
export async function heldModelDir(h: HeldModels, modelId: bigint | string): Promise<string | undefined> {
  const up = h.jobs.uploadOf(modelId);
  if (!up) return undefined;
  const dir = path.join(h.dataDir, "models", up.tree_root);
  if (!fs.existsSync(dir)) await h.store.materialize(up.tree_root, dir).catch(() => undefined);
  return dir;
}

/** A held model's context and token counter; undefined when the folder is not readable here. */
async function modelRules(dir: string) {
  try {
    const nPositions = normalizeConfig(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"))).n_positions;
    // The runtime's tokenizer memo: building GPT-2's takes ~0.1 s, and every input check needs it.
    const tok = await cachedTokenizer(dir);
    return { nPositions, countTokens: (t: string) => tok.encode(t).length, maxTokenBytes: tok.maxTokenBytes };
  } catch {
    return undefined;
  }
}

function check(p: JobParams, bytes: Uint8Array, file: string, rules?: Awaited<ReturnType<typeof modelRules>>) {
  return checkJobInput(EXECUTOR_KIND_OF[p.kind], bytes, {
    file,
    maxBytes: DEFAULT_DATASET_LIMITS.maxBytes, // the runtime's own limit (readDataset)
    nPositions: rules?.nPositions,
    ...inputRulesOf(p),
    countTokens: rules?.countTokens,
    maxTokenBytes: rules?.maxTokenBytes,
  });
}

/**
 * The input rules for an uploaded job input, with its model's context and tokenizer when this worker holds the model
 * (else the byte-level rules and bounds only: the runtime checks the rest when it runs).
 */
export async function checkJobUpload(h: HeldModels, jobId: bigint, bytes: Uint8Array): Promise<InputCheck> {
  const row = h.jobs.get(jobId);
  if (!row) return { ok: true };
  const p = decodeJobParams(EXECUTOR_KINDS.indexOf(row.kind), row.params);
  const dir = await heldModelDir(h, row.model_id);
  return check(p, bytes, "the uploaded input", dir ? await modelRules(dir) : undefined);
}

/**
 * The input rules for a job not yet requested (POST /models/:id/check-input), with the model's own context and
 * tokenizer; undefined when this worker does not hold the model or cannot read it (it can tell nothing more).
 */
export async function checkModelInput(
  h: HeldModels,
  modelId: bigint,
  p: JobParams,
  bytes: Uint8Array,
): Promise<InputCheck | undefined> {
  const dir = await heldModelDir(h, modelId);
  const rules = dir ? await modelRules(dir) : undefined;
  return rules ? check(p, bytes, "the input", rules) : undefined;
}
