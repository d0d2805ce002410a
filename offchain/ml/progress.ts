export type Phase = "load" | "tokenize" | "train" | "validate" | "save" | "export" | "generate" | "evaluate" | "done";

export interface Progress {
  step: number;
  totalSteps: number;
  loss?: number;
  tokensPerSec?: number;
  etaSec?: number;
  phase: Phase;
}

export type ProgressFn = (p: Progress) => void;
