/**
 * How long a request's body may take to arrive. Node's own limit (http.Server.requestTimeout: 300 s for a whole
 * request) cut off every upload slower than its size over 300 s: a publisher's 1.4 GB GPT-2 medium folder needed
 * 4.8 MiB/s, an uplink many people do not have. The worker turns Node's limit off and keeps one of its own:
 *
 * - every request's body must have arrived within `wholeRequestMs` (Node's 300 s, kept for every route that is not
 *   a signed upload, so that nobody holds a connection open by sending a body slowly);
 * - a signed upload, once its signer is known to be the model's owner or the job's requester, is held to a pace
 *   instead: after `graceMs` it must keep arriving at `minBytesPerSec` (averaged since then), however long it takes.
 *   Below that pace it is cut off (408 BODY_TOO_SLOW), its temp file removed, nothing stored.
 */
import type http from "node:http";
import { gated } from "./api-limits";

export interface BodyPace {
  /** The most any request's body may take, signed uploads excepted. */
  wholeRequestMs: number;
  /** The slowest a signed upload may arrive, averaged after graceMs. */
  minBytesPerSec: number;
  graceMs: number;
}

/** 128 KiB/s (1 Mbit/s) is far below any uplink a publisher uses; a gigabyte at that pace takes over two hours. */
export const DEFAULT_BODY_PACE: BodyPace = { wholeRequestMs: 300_000, minBytesPerSec: 128 * 1024, graceMs: 60_000 };

const walls = new WeakMap<http.IncomingMessage, () => void>();

/** Starts `req`'s limit: its connection is cut if its body has not arrived within `ms` (liftWall ends it). */
export function startWall(req: http.IncomingMessage, ms: number): void {
  const timer = setTimeout(() => {
    if (!req.complete) req.destroy();
  }, ms);
  timer.unref();
  const lift = () => clearTimeout(timer);
  req.once("close", lift);
  walls.set(req, lift);
}

/**
 * Runs the upload `run` reading `req`'s body at the pace of a signed upload: `req`'s whole-request limit lifted, its
 * connection cut once its body falls behind `pace.minBytesPerSec` after `pace.graceMs` (then 408 BODY_TOO_SLOW).
 */
export function atUploadPace<T>(
  req: http.IncomingMessage,
  pace: BodyPace,
  what: string,
  run: () => Promise<T>,
): Promise<T> {
  walls.get(req)?.();
  const noPlace = () => undefined; // an upload holds no place of the anonymous gate's
  return gated(noPlace, req, Infinity, what, run, { bytesPerSec: pace.minBytesPerSec, afterMs: pace.graceMs });
}
