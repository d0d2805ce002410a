/**
 * Bounds on what clients that have paid nothing yet can make the worker spend. Anyone may sign a check of an input
 * (POST /models/:id/check-input) with a key made for the purpose, so the per-signer quota (guard.ts) does not hold a
 * flood back; and anyone may ask for quotes (GET /models/:id/quote). Both routes are held to budgets shared by all
 * clients, and to a quota per client address (an IPv4 address, or an IPv6 /64), decided before anything else of the
 * request is read. A request beyond them is answered at once, 429 BUSY with `retry-after`: nothing waits in a queue.
 * Requesters of jobs already on chain (input uploads, result downloads) are not counted here: they are held to their
 * own per-address quota, and a flood of checks and quotes does not slow them down.
 *
 * The budgets are constants (ApiDeps.anonymousLimits overrides them, as the tests do), chosen so that a requester,
 * who checks one input per job before paying and asks one quote per request, never meets them.
 */
import type http from "node:http";
import { createQuotas, type QuotaPolicy, type Quotas } from "./guard";
import { ApiError } from "./api-core";

const MiB = 1024 * 1024;

export interface CheckInputLimits {
  /** Checks admitted at once, all clients together: receiving their body, waiting their turn or being checked. */
  maxInFlight: number;
  /** Of those, from one client address. */
  maxInFlightPerClient: number;
  /** Bytes of input admitted per second, all clients together (the declared size, or the most a check takes). */
  bytesPerSec: number;
  /** The most bytes admitted at once after a quiet spell (at least the largest input checked). */
  burstBytes: number;
  /** What each request counts at least against the bytes budget (so that tiny inputs are bounded too). */
  minChargeBytes: number;
  /** Requests and bytes per window from one client address, whatever keys sign them. */
  perClient: QuotaPolicy;
  /** How long an admitted check's body may take to arrive; a slower one is cut off and its place freed. */
  bodyTimeoutMs: number;
}

export interface QuoteLimits {
  /** Quotes answered per second, all clients together, and the most at once after a quiet spell. */
  perSec: number;
  burst: number;
  /** The same for one client address. */
  perClientPerSec: number;
  perClientBurst: number;
}

export interface InspectLimits {
  /** Inspections under way at once, all clients together: receiving their folder, waiting their turn or inspected. */
  maxInFlight: number;
  /** Of those, from one client address. */
  maxInFlightPerClient: number;
  /** The slowest a folder may arrive: its time limit is its declared size at this rate, minBodyTimeoutMs at least. */
  minBytesPerSec: number;
  minBodyTimeoutMs: number;
}

export interface AnonymousLimits {
  checkInput: CheckInputLimits;
  quote: QuoteLimits;
  inspect: InspectLimits;
}

export const DEFAULT_ANONYMOUS_LIMITS: AnonymousLimits = {
  checkInput: {
    maxInFlight: 4,
    maxInFlightPerClient: 2,
    bytesPerSec: 4 * MiB,
    burstBytes: 16 * MiB,
    minChargeBytes: 64 * 1024,
    perClient: { windowMs: 60_000, maxRequests: 30, maxBytes: 64 * MiB },
    bodyTimeoutMs: 60_000,
  },
  quote: { perSec: 20, burst: 50, perClientPerSec: 5, perClientBurst: 20 },
  // A publisher inspects a folder once before paying: one at a time per address, and no one holds the place for ever.
  inspect: { maxInFlight: 3, maxInFlightPerClient: 1, minBytesPerSec: MiB, minBodyTimeoutMs: 60_000 },
};

/** Overrides of some of the limits (ApiDeps.anonymousLimits). */
export interface AnonymousLimitsOverride {
  checkInput?: Partial<CheckInputLimits>;
  quote?: Partial<QuoteLimits>;
  inspect?: Partial<InspectLimits>;
}

/**
 * Whom a request counts against: its peer's address, an IPv4 address (also when mapped into IPv6) or the /64 of an
 * IPv6 address (one host usually has a whole /64). Headers such as x-forwarded-for are not believed (anyone can send
 * them): behind a reverse proxy every client is the proxy, and the per-client quotas become shared ones.
 */
export function clientOf(req: http.IncomingMessage): string {
  let addr = req.socket.remoteAddress ?? "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) addr = mapped[1];
  if (!addr.includes(":")) return addr;
  const [head, tail] = addr.split("%")[0].split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(":")}::/64`;
}

/** A token bucket: `rate` tokens a second, at most `burst`. */
class Bucket {
  private tokens: number;
  private at: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.at = now();
  }
  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
  }
  /** Seconds until `n` tokens are there (0: now). */
  waitSec(n: number): number {
    this.refill();
    return n <= this.tokens ? 0 : Math.max(1, Math.ceil((n - this.tokens) / this.rate));
  }
  take(n: number): void {
    this.refill();
    this.tokens -= n;
  }
  get full(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }
}

/** Token buckets per client, forgetting full ones when there are many. */
class Buckets {
  private readonly map = new Map<string, Bucket>();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {}
  get(key: string): Bucket {
    let b = this.map.get(key);
    if (!b) {
      if (this.map.size >= 10_000) for (const [k, v] of this.map) if (v.full) this.map.delete(k);
      b = new Bucket(this.rate, this.burst, this.now);
      this.map.set(key, b);
    }
    return b;
  }
}

/** Requests under way, all clients together and per client. */
class InFlight {
  private total = 0;
  private readonly per = new Map<string, number>();
  /** Who is over their limit: the client, all clients together, or nobody. */
  over(client: string, max: number, maxPerClient: number): "client" | "all" | undefined {
    const mine = this.per.get(client) ?? 0;
    return mine >= maxPerClient ? "client" : this.total >= max ? "all" : undefined;
  }
  mine(client: string): number {
    return this.per.get(client) ?? 0;
  }
  /** Counts one more for `client`; the returned function gives it back, once. */
  take(client: string): () => void {
    this.total++;
    this.per.set(client, this.mine(client) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = this.mine(client) - 1;
      if (left > 0) this.per.set(client, left);
      else this.per.delete(client);
    };
  }
}

function busy(message: string, retryAfterSec: number): ApiError {
  return new ApiError(429, "BUSY", message.replace("{s}", String(retryAfterSec)), {
    "retry-after": String(retryAfterSec),
  });
}

export interface AnonymousGate {
  readonly limits: AnonymousLimits;
  /**
   * Admits a check of an input of `bytes` (its declared size, or the most a check takes) from `req`'s client, or
   * throws 429 BUSY and counts nothing. The returned function gives its place back, once, when the request ends.
   */
  admitCheck(req: http.IncomingMessage, bytes: number): () => void;
  /** Admits a quote for `req`'s client, or throws 429 BUSY. */
  admitQuote(req: http.IncomingMessage): void;
  /** Admits an inspection of a model folder from `req`'s client, or throws 429 BUSY; as admitCheck, its release. */
  admitInspect(req: http.IncomingMessage): () => void;
}

export function createAnonymousGate(
  override: AnonymousLimitsOverride = {},
  now: () => number = Date.now,
): AnonymousGate {
  const limits: AnonymousLimits = {
    checkInput: { ...DEFAULT_ANONYMOUS_LIMITS.checkInput, ...override.checkInput },
    quote: { ...DEFAULT_ANONYMOUS_LIMITS.quote, ...override.quote },
    inspect: { ...DEFAULT_ANONYMOUS_LIMITS.inspect, ...override.inspect },
  };
  const c = limits.checkInput;
  const checkBytes = new Bucket(c.bytesPerSec, c.burstBytes, now);
  const perClient: Quotas = createQuotas(c.perClient, now);
  const checks = new InFlight();
  const inspections = new InFlight();
  const q = limits.quote;
  const quotes = new Bucket(q.perSec, q.burst, now);
  const clientQuotes = new Buckets(q.perClientPerSec, q.perClientBurst, now);
  const nothingPaid = "; nothing was paid";
  return {
    limits,
    admitCheck(req, bytes) {
      const client = clientOf(req);
      const cost = Math.min(Math.max(bytes, c.minChargeBytes), c.burstBytes);
      const over = checks.over(client, c.maxInFlight, c.maxInFlightPerClient);
      if (over === "client") {
        throw busy(
          `${client} already has ${checks.mine(client)} input checks under way: try again in {s} s, once they end` +
            nothingPaid,
          2,
        );
      }
      if (over === "all") {
        throw busy(`the worker is checking too many inputs right now: try again in {s} s${nothingPaid}`, 2);
      }
      const wait = checkBytes.waitSec(cost);
      if (wait > 0) {
        throw busy(`the worker is checking too many inputs right now: try again in {s} s${nothingPaid}`, wait);
      }
      const verdict = perClient.charge(client, cost);
      if (!verdict.ok) {
        throw busy(
          `${client} has used its quota of input checks (${c.perClient.maxRequests} requests and ` +
            `${Math.floor(c.perClient.maxBytes / MiB)} MiB per ${c.perClient.windowMs / 1000} s, whatever keys sign ` +
            `them) for now: try again in {s} s${nothingPaid}`,
          verdict.retryAfterSec,
        );
      }
      checkBytes.take(cost);
      return checks.take(client);
    },
    admitInspect(req) {
      const client = clientOf(req);
      const i = limits.inspect;
      const over = inspections.over(client, i.maxInFlight, i.maxInFlightPerClient);
      if (over === "client")
        throw busy(`${client} already has a model folder under inspection: try again in {s} s, once it ends`, 5);
      if (over === "all") throw busy("the worker is inspecting other model folders: try again in {s} s", 5);
      return inspections.take(client);
    },
    admitQuote(req) {
      const client = clientOf(req);
      const own = clientQuotes.get(client);
      const ownWait = own.waitSec(1);
      if (ownWait > 0) {
        throw busy(
          `${client} asks for quotes too often (at most ${q.perClientPerSec} a second): try again in {s} s`,
          ownWait,
        );
      }
      const wait = quotes.waitSec(1);
      if (wait > 0) throw busy("the worker is answering too many quotes right now: try again in {s} s", wait);
      own.take(1);
      quotes.take(1);
    },
  };
}

/**
 * Runs a check of an input (`run`, POST /models/:id/check-input) within the gate: admitted first (or 429 BUSY), its
 * place given back when it ends, and its connection cut if its body has not arrived within the limit (408).
 */
export function gatedCheck<T>(
  gate: AnonymousGate,
  req: http.IncomingMessage,
  bytes: number,
  run: () => Promise<T>,
): Promise<T> {
  const release = gate.admitCheck(req, bytes);
  return gated(release, req, gate.limits.checkInput.bodyTimeoutMs, "the input", run);
}

/**
 * Runs an inspection of a model folder of `bytes` (`run`, POST /models/inspect) within the gate, as gatedCheck: after
 * InspectLimits.minBodyTimeoutMs its body must keep arriving at minBytesPerSec at least (cut off when it falls behind),
 * so that nobody holds a place by sending it slowly.
 */
export function gatedInspect<T>(
  gate: AnonymousGate,
  req: http.IncomingMessage,
  bytes: number,
  run: () => Promise<T>,
): Promise<T> {
  const release = gate.admitInspect(req);
  const i = gate.limits.inspect;
  const timeoutMs = i.minBodyTimeoutMs + Math.ceil((bytes / i.minBytesPerSec) * 1000);
  return gated(release, req, timeoutMs, "the model folder", run, {
    bytesPerSec: i.minBytesPerSec,
    afterMs: i.minBodyTimeoutMs,
  });
}

/**
 * Runs `run` for `req`, giving its place back (`release`) when it ends, and cutting its connection (408) when its body
 * has not arrived within `timeoutMs`, or (`minRate`) has fallen behind bytesPerSec since `afterMs` (also the pace of a
 * signed upload, body-pace.ts).
 */
export async function gated<T>(
  release: () => void,
  req: http.IncomingMessage,
  timeoutMs: number,
  what: string,
  run: () => Promise<T>,
  minRate?: { bytesPerSec: number; afterMs: number },
): Promise<T> {
  let cut: string | undefined;
  const started = Date.now();
  const base = req.socket?.bytesRead ?? 0;
  const timer = setInterval(
    () => {
      if (req.complete || cut) return;
      const elapsed = Date.now() - started;
      const got = (req.socket?.bytesRead ?? 0) - base;
      if (elapsed >= timeoutMs) cut = `${what} did not arrive within ${timeoutMs / 1000} s`;
      else if (minRate && elapsed > minRate.afterMs && got < (minRate.bytesPerSec * (elapsed - minRate.afterMs)) / 1000)
        cut = `${what} arrived slower than ${minRate.bytesPerSec} bytes a second`;
      if (cut) req.destroy();
    },
    Math.min(250, timeoutMs),
  );
  try {
    return await run();
  } catch (e) {
    if (cut) throw new ApiError(408, "BODY_TOO_SLOW", cut);
    throw e;
  } finally {
    clearInterval(timer);
    release();
  }
}
