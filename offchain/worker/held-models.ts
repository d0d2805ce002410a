/**
 * The models this worker holds, as its API uses them: their folders, and ml/input-check.ts's rules applied with a
 * model's own context and tokenizer, to an uploaded job input or to an input a requester asks about before paying.
 */
import fs from "node:fs";
import path from "node:path";
import {
  cachedTokenizer,
  checkTokenizerFits,
  DEFAULT_DATASET_LIMITS,
  MlError,
  normalizeConfig,
  readConfig,
} from "../ml";
import { checkJobInput, type InputCheck } from "../ml/input-check";
import { EXECUTOR_KIND_OF, EXECUTOR_KINDS, inputRulesOf } from "../protocol/job-spec";
import { decodeJobParams, type JobParams } from "../protocol/params";
import type { JobsRepo } from "./jobs";
import type { Log } from "./log";
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

/** Each folder's verdict (folderProblem), by folder: a folder under models/ is named by its content (its tree root). */
const verdicts = new Map<string, Promise<string | undefined>>();
const UNLIMITED = { maxParams: Infinity, maxContext: Infinity, maxVocab: Infinity };

/**
 * Why no runtime would load a folder this worker holds, or undefined: the refusals both loaders apply to config.json
 * and the tokenizer (ml/checkpoint.ts: readConfig, checkTokenizerFits, checkEndOfText), which would fail every job on
 * it as MODEL_INVALID after its requester paid. A quote says no for it and a claim skips its jobs, before anything is
 * paid or claimed. Reached once per folder and process (a folder that cannot be read yet is asked again).
 */
export function folderProblem(dir: string): Promise<string | undefined> {
  let verdict = verdicts.get(dir);
  if (!verdict) {
    verdict = (async () => {
      try {
        checkTokenizerFits(readConfig(dir, UNLIMITED), await cachedTokenizer(dir), dir);
        return undefined;
      } catch (e) {
        if (e instanceof MlError && (e.code === "MODEL_INVALID" || e.code === "CONFIG_INVALID")) {
          // Said without the operator's folder (a quote's reason is public): the rest names what to fix.
          return e.message.split(`${dir}: `).join("");
        }
        verdicts.delete(dir);
        return undefined;
      }
    })();
    verdicts.set(dir, verdict);
  }
  return verdict;
}

/**
 * Says once, at start-up, which held models this worker cannot serve and why (folderProblem), each materialized as a
 * quote would; nothing is deleted: the operator decides (the model's owner publishes a fixed folder as a new model).
 */
export async function logUnservableModels(h: HeldModels, log: Log): Promise<void> {
  try {
    for (const up of h.jobs.uploads()) {
      const dir = await heldModelDir(h, up.model_id);
      const problem = dir && fs.existsSync(dir) ? await folderProblem(dir) : undefined;
      if (!problem) continue;
      log.warn(
        { modelId: up.model_id, folder: dir, code: "MODEL_INVALID" },
        `model ${up.model_id}: this worker holds its folder but cannot serve it (its quotes say no, its jobs are ` +
          `not claimed): ${problem}`,
      );
    }
  } catch (e) {
    // The worker stopped meanwhile (its database closed): quotes and claims check each folder all the same.
    log.debug({ err: (e as Error).message }, "the held models' check stopped");
  }
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
