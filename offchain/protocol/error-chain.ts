/**
 * An error and what it wraps, as ethers and the nodes build them: ethers' `error` and `info` (the node's answer),
 * `cause`, and an object `data` (Hardhat's error data). Browser-safe; the SDK and the worker read their errors with it.
 */

/** The error and every object it wraps, outermost first, at most `depth` levels down. */
export function errorChain(e: unknown, depth = 4): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const visit = (x: unknown, level: number) => {
    if (x === null || typeof x !== "object" || level > depth || out.includes(x as Record<string, unknown>)) return;
    out.push(x as Record<string, unknown>);
    for (const k of ["error", "cause", "info", "data"]) visit((x as Record<string, unknown>)[k], level + 1);
  };
  visit(e, 0);
  return out;
}
