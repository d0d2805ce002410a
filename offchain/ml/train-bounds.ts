/**
 * The bounds a training run's learning rate and weight decay must keep, whatever the data: one AdamW step moves a
 * weight by about lr at most (the gradient clipped), and decoupled decay multiplies it by 1 − lr·weightDecay, which
 * at 1 or more flips and grows it every step. A run that diverged fails on the worker's account, a penalty a
 * requester could farm: such params are refused before anything is paid or claimed. Browser-safe (the SDK checks).
 */

/** The largest learning rate a run takes (fine-tuning uses 1e-5 … 1e-3; pretraining rarely above 1e-2). */
export const MAX_LR = 1;
/** lr × weightDecay stays under this: the decay's factor 1 − lr·wd then stays in (0.5, 1]. */
export const MAX_DECAY_PRODUCT = 0.5;

/** Why a learning rate and weight decay are out of bounds (in the runtime's units), or undefined. */
export function trainBoundsProblem(lr: number, weightDecay: number): string | undefined {
  if (!(lr > 0 && lr <= MAX_LR)) return `the learning rate ${lr} must be above 0 and at most ${MAX_LR}`;
  if (!(weightDecay >= 0 && weightDecay < 10)) return `the weight decay ${weightDecay} must be from 0 to under 10`;
  if (lr * weightDecay >= MAX_DECAY_PRODUCT)
    return (
      `the learning rate ${lr} and weight decay ${weightDecay} shrink the weights by lr × weight decay = ` +
      `${Number((lr * weightDecay).toPrecision(6))} a step: it must stay under ${MAX_DECAY_PRODUCT}`
    );
  return undefined;
}

/**
 * What the runtime refuses whatever the model (train.ts, serve.ts, evaluate.ts take these): a job requested with
 * params beyond them is one no worker claims, so the SDK refuses it before anything is paid.
 */
export const RUNTIME_BOUNDS = {
  /** A training batch: 1 … 1024 windows. */
  maxBatch: 1024,
  /** Training steps: at most ten million. */
  maxSteps: 10_000_000,
  /** A context of fewer than 2 tokens has nothing to predict. */
  minContext: 2,
  /** Sampling temperature: 0 (greedy) … 100. */
  maxTemperature: 100,
} as const;
