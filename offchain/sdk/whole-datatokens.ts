/**
 * Every job consumes exactly one whole datatoken, so a fraction of one pays for no job: it can only be sold again, or
 * completed by another fraction. The rule a purchase and a listing are checked with, before anything is sent, so that
 * every front end refuses (or warns of) the same amounts in the same words. Pure and browser-safe.
 */
import { ONE_DATATOKEN, amountText } from "../protocol/params";
import { SdkError } from "./errors";

/**
 * The SDK's purchases and listings refuse a fraction that pays for no job; `allowFraction` buys or lists it anyway
 * (a trader's choice: the fraction can be sold again, or completed by another).
 */
export interface FractionOption {
  allowFraction?: boolean;
}

/** What a fractional amount would leave: the part that pays for no job, and the amounts to use instead. */
export interface FractionProblem {
  /** The part of a datatoken that would pay for no job. */
  useless: bigint;
  /** Amounts that leave no such part, nearest first (the larger, then the smaller when there is one). */
  instead: bigint[];
}

/**
 * Whether buying `amount` datatokens, holding `held` of them already, leaves a fraction that pays for no job. A whole
 * amount never does (a fraction held already stays what it was); a fractional one is fine only when it completes
 * the fraction held into whole datatokens (holding 0.5, buying 0.5 or 1.5).
 */
export function buyFraction(amount: bigint, held: bigint): FractionProblem | undefined {
  if (amount % ONE_DATATOKEN === 0n) return undefined;
  const after = held + amount;
  const useless = after % ONE_DATATOKEN;
  if (useless === 0n) return undefined;
  const up = after - useless + ONE_DATATOKEN - held;
  const down = after - useless - held;
  return { useless, instead: down > 0n ? [up, down] : [up] };
}

/**
 * Whether listing `amount` of the `held` datatokens sells a fraction that pays for no job. A whole amount never
 * does; a fractional one is fine only when it is the fraction the seller holds (plus whole ones), so that what the
 * seller keeps is whole and a buyer holding the rest can complete it.
 */
export function listFraction(amount: bigint, held: bigint): FractionProblem | undefined {
  if (amount % ONE_DATATOKEN === 0n || (held - amount) % ONE_DATATOKEN === 0n) return undefined;
  const useless = amount % ONE_DATATOKEN;
  const up = amount - useless + ONE_DATATOKEN;
  const down = amount - useless;
  return { useless, instead: [...(up <= held ? [up] : []), ...(down > 0n ? [down] : [])] };
}

/** Every digit of an amount (amountText): advice rounded to 4 decimals would be refused again. */
const exact = amountText;

/** "2 or 1", "0.5". */
const either = (xs: bigint[]) => xs.map(exact).join(" or ");

/**
 * Refuses (SdkError PARAMS_INVALID, before anything is sent or paid) buying a fraction of a datatoken that pays for no
 * job (`buyFraction`), saying what to buy instead. `modelId` names the model in the error's data.
 */
export function refuseBuyFraction(amount: bigint, held: bigint, modelId: bigint): void {
  const p = buyFraction(amount, held);
  if (!p) return;
  const whole = held % ONE_DATATOKEN === 0n;
  const why = whole
    ? `so ${exact(p.useless)} of the ${exact(amount)} would pay for no job.`
    : `you hold ${exact(held)}, so with ${exact(amount)} more you would hold ${exact(held + amount)}, and ` +
      `${exact(p.useless)} of it would pay for no job.`;
  throw new SdkError(
    "PARAMS_INVALID",
    `Buy whole datatokens: each job consumes a whole one, ${why} Nothing was paid.`,
    whole ? `buy ${either(p.instead)} instead` : `buy ${either(p.instead)} instead (which makes what you hold whole)`,
    { data: { param: "amount", modelId, amount, held, instead: p.instead } },
  );
}

/** Refuses (SdkError PARAMS_INVALID, before anything is sent) listing a fraction that pays for no job (`listFraction`). */
export function refuseListFraction(amount: bigint, held: bigint, modelId: bigint): void {
  const p = listFraction(amount, held);
  if (!p) return;
  const part = held % ONE_DATATOKEN;
  const alternatives = [
    ...(p.instead.length ? [`list ${either(p.instead)} instead`] : []),
    ...(part > 0n ? [`list exactly the fraction you hold (${exact(part)}), for a buyer who holds the rest`] : []),
  ];
  throw new SdkError(
    "PARAMS_INVALID",
    `List whole datatokens: each job consumes a whole one, so ${exact(p.useless)} of the ${exact(amount)} would ` +
      "pay for no job of the buyer's. Nothing was listed.",
    alternatives.join(", or ") || "list a whole number of datatokens",
    { data: { param: "amount", modelId, amount, held, instead: p.instead } },
  );
}
