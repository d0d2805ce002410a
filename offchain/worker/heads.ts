/**
 * New heads over a WebSocket, to wake ingestion as soon as a block is mined instead of at the next poll. Optional and
 * never load-bearing: ingestion polls over HTTP whatever happens here; this only shortens the wait between polls.
 */
import { Network, SocketSubscriber, WebSocketProvider, type WebSocketLike } from "ethers";
import type { Log } from "./log";
import { redactUrl } from "./log";
import { backoffDelay, describeError, type BackoffOptions } from "./rpc";

export interface HeadsOptions {
  /** ws:// or wss:// URL of a node of the worker's chain. */
  url: string;
  /** The chain the node must serve (checked on each connection; ethers never probes it on its own). */
  chainId: number;
  /** Called for each new head announced by the node (the ingestor's `wake`); null when the head has no number. */
  onHead(blockNumber: number | null): void;
  log: Log;
  /** Backoff between failed connections (default 250 ms doubling to 30 s). */
  backoff?: BackoffOptions;
  /** How long connecting and subscribing may take before the attempt counts as failed (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * While subscribed, a request (`eth_chainId`) is sent this often (default 30 s); a connection that does not answer
   * within `keepaliveTimeoutMs` (default 10 s) is dropped and made again. A socket that a network middlebox silently
   * black-holes still looks open, and would otherwise deliver no head ever again.
   */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
}

export interface HeadsStatus {
  /** Subscribed to new heads right now. */
  connected: boolean;
  /** Heads received since start. */
  heads: number;
  lastHead: number | null;
  /** Failed connection attempts and lost connections since start. */
  failures: number;
  lastError: { message: string; at: string } | null;
}

export interface HeadsSubscriber {
  /** Connects, and keeps reconnecting until `stop()`. */
  start(): void;
  /** Closes the socket and cancels any reconnection; resolves once the socket is closed. */
  stop(): Promise<void>;
  status(): HeadsStatus;
}

/** What ethers' WebSocketProvider gives as its socket (a `ws` WebSocket under Node), with the parts ethers' type omits. */
type Socket = WebSocketLike & {
  onclose: null | ((ev: { code?: number }) => void);
  terminate?(): void;
};

/** Takes the `newHeads` notifications of one subscription id (registered on the provider once subscribed). */
class NewHeads extends SocketSubscriber {
  constructor(
    provider: WebSocketProvider,
    private readonly onHead: (head: unknown) => void,
  ) {
    super(provider, ["newHeads"]);
  }
  // Replaces ethers' bookkeeping, which expects the subscription to be made by `provider.on("block")`.
  override _handleMessage(message: unknown): void {
    this.onHead(message);
  }
}

/** A graceful close may wait this long for the node's answer before the socket is cut. */
const CLOSE_GRACE_MS = 1000;

/** One connection attempt: its socket, its timers and how it ends. */
interface Connection {
  /** Resolves once the socket is closed. */
  closed: Promise<void>;
  /** Rejects with the reason once the connection ends, cutting short what waits on the node. */
  ended: Promise<never>;
  done: boolean;
  socket?: Socket;
  /** The deadline for subscribing, the keepalive's interval and the deadline of the keepalive still out. */
  timer?: NodeJS.Timeout;
  keepalive?: NodeJS.Timeout;
  unanswered?: NodeJS.Timeout;
  end(why: unknown): void;
}

/** The subscriber's settings and state, shared by its steps. */
interface HeadsKit {
  o: HeadsOptions;
  where: string;
  network: Network;
  connectTimeoutMs: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  describe(e: unknown): string;
  st: HeadsStatus;
  running: boolean;
  /** Failures since the last successful subscription. */
  attempt: number;
  /** The current outage has been logged. */
  outage: boolean;
  retryTimer?: NodeJS.Timeout;
  current?: Connection;
}

/**
 * Subscribes to `newHeads` over a WebSocket and calls `onHead` for each block. When the socket cannot connect, the
 * subscription is refused, or the connection drops, it logs once per outage (a warning naming the URL's origin
 * only), counts the failure in `status()`, and reconnects with capped exponential backoff.
 *
 * Uses ethers' WebSocketProvider as the transport, but subscribes with an explicit `eth_subscribe` rather than
 * `provider.on("block")`: ethers leaves a refused or cancelled subscription as an unhandled rejection (which would
 * end the process) and never reconnects, so the socket's life is managed here.
 */
export function createHeadsSubscriber(o: HeadsOptions): HeadsSubscriber {
  const k: HeadsKit = {
    o,
    where: redactUrl(o.url),
    network: Network.from(o.chainId),
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    keepaliveMs: o.keepaliveMs ?? 30_000,
    keepaliveTimeoutMs: o.keepaliveTimeoutMs ?? 10_000,
    describe: redactor(o.url),
    st: { connected: false, heads: 0, lastHead: null, failures: 0, lastError: null },
    running: false,
    attempt: 0,
    outage: false,
  };
  return {
    start() {
      if (k.running) return;
      k.running = true;
      connect(k);
    },
    stop: () => stop(k),
    status() {
      return { ...k.st, lastError: k.st.lastError && { ...k.st.lastError } };
    },
  };
}

/** Describes an error with the parts of the URL that may hold an API key redacted (ws quotes an unparsable URL whole). */
function redactor(url: string): (e: unknown) => string {
  const secrets = [url];
  try {
    const u = new URL(url);
    secrets.push(...[u.pathname.length > 1 ? u.pathname : "", u.search, u.password].filter((x) => x.length > 0));
  } catch {
    // ws will refuse it too, quoting it: the whole URL is in `secrets`.
  }
  return (e: unknown): string => secrets.reduce((m, x) => m.split(x).join("[redacted]"), describeError(e));
}

/** Counts a failed or lost connection, logs it once per outage and schedules the next attempt with backoff. */
function failed(k: HeadsKit, why: unknown): void {
  const { o, st } = k;
  st.connected = false;
  st.failures++;
  st.lastError = { message: k.describe(why), at: new Date().toISOString() };
  const delayMs = backoffDelay(k.attempt++, o.backoff);
  if (!k.outage) {
    k.outage = true;
    o.log.warn(
      { ws: k.where, err: st.lastError.message, retryInMs: delayMs },
      "new-heads WebSocket failed: polling carries on, reconnecting with backoff",
    );
  } else {
    o.log.debug(
      { ws: k.where, err: st.lastError.message, attempt: k.attempt, retryInMs: delayMs },
      "new-heads WebSocket retry",
    );
  }
  k.retryTimer = setTimeout(() => connect(k), delayMs);
}

/** Counts one `newHeads` notification and passes its block number (null when it has none) to `onHead`. */
function onHead(k: HeadsKit, head: unknown): void {
  const raw = head !== null && typeof head === "object" ? (head as { number?: unknown }).number : undefined;
  const n = typeof raw === "string" || typeof raw === "number" ? Number(raw) : NaN;
  k.st.heads++;
  if (Number.isSafeInteger(n)) k.st.lastHead = n;
  k.o.onHead(Number.isSafeInteger(n) ? n : null);
}

/** Opens one connection: the socket, its handlers and a deadline for subscribing; whatever fails ends it. */
function connect(k: HeadsKit): void {
  k.retryTimer = undefined;
  if (!k.running) return;
  let closedResolve!: () => void;
  let endRejects!: (e: unknown) => void;
  let provider: WebSocketProvider | undefined;
  const conn: Connection = {
    closed: new Promise<void>((r) => (closedResolve = r)),
    ended: new Promise<never>((_, reject) => (endRejects = reject)),
    done: false,
    end(why: unknown): void {
      if (conn.done) return;
      conn.done = true;
      clearTimeout(conn.timer);
      clearInterval(conn.keepalive);
      clearTimeout(conn.unanswered);
      endRejects(why);
      if (k.current === conn) k.current = undefined;
      // Closes the socket (gracefully when open) and cancels ethers' queued requests.
      provider?.destroy().catch(() => undefined);
      if (k.running) failed(k, why);
    },
  };
  conn.ended.catch(() => undefined);
  k.current = conn;
  conn.timer = setTimeout(
    () => conn.end(new Error(`no new-heads subscription within ${k.connectTimeoutMs} ms`)),
    k.connectTimeoutMs,
  );

  try {
    provider = new WebSocketProvider(k.o.url, k.network, { staticNetwork: k.network });
  } catch (e) {
    closedResolve();
    return conn.end(e);
  }
  const p = provider;
  const socket = p.websocket as Socket;
  conn.socket = socket;
  // Without an error listener a `ws` socket that fails throws from its event emitter, taking the process down.
  socket.onerror = (ev: { error?: unknown; message?: unknown }) =>
    conn.end(ev?.error ?? ev?.message ?? "WebSocket error");
  socket.onclose = (ev) => {
    closedResolve();
    conn.end(new Error(`the node closed the WebSocket (code ${ev?.code ?? "?"})`));
  };
  // ethers parses messages without catching: a node that sends garbage must end this connection, not the process.
  socket.onmessage = (m: { data: unknown }) => {
    p._processMessage(String(m.data)).catch((e: unknown) => conn.end(e));
  };
  void subscribe(k, conn, p);
}

/** Checks the node's chain, subscribes to new heads and starts the keepalive; a failure ends the connection. */
async function subscribe(k: HeadsKit, conn: Connection, p: WebSocketProvider): Promise<void> {
  const { o } = k;
  const race = <T>(x: Promise<T>): Promise<T> => Promise.race([x, conn.ended]);
  try {
    const chain = Number(BigInt(await race(p.send("eth_chainId", []))));
    if (chain !== o.chainId) {
      throw new Error(
        `the WebSocket node serves chain ${chain}, not chain ${o.chainId}: point it at a node of chain ${o.chainId}`,
      );
    }
    const id: unknown = await race(p.send("eth_subscribe", ["newHeads"]));
    if (typeof id !== "string" && typeof id !== "number") throw new Error("eth_subscribe gave no subscription id");
    if (conn.done) return;
    p._register(id, new NewHeads(p, (head) => onHead(k, head)));
    clearTimeout(conn.timer);
    conn.keepalive = setInterval(() => keepalive(k, conn, p), k.keepaliveMs);
    k.st.connected = true;
    if (k.outage) o.log.info({ ws: k.where, failures: k.attempt }, "new-heads WebSocket reconnected");
    else o.log.info({ ws: k.where }, "subscribed to new heads");
    k.attempt = 0;
    k.outage = false;
  } catch (e) {
    conn.end(e);
  }
}

/** Sends one keepalive (`eth_chainId`) unless the last is still out; no answer in time ends the connection. */
function keepalive(k: HeadsKit, conn: Connection, p: WebSocketProvider): void {
  if (conn.unanswered) return; // the last one is still out
  conn.unanswered = setTimeout(
    () => conn.end(new Error(`the node did not answer a keepalive within ${k.keepaliveTimeoutMs} ms`)),
    k.keepaliveTimeoutMs,
  );
  Promise.race([p.send("eth_chainId", []), conn.ended]).then(
    () => {
      clearTimeout(conn.unanswered);
      conn.unanswered = undefined;
    },
    (e: unknown) => conn.end(e),
  );
}

/** Stops reconnecting and closes the current socket, cutting it when the node does not answer the close in time. */
async function stop(k: HeadsKit): Promise<void> {
  k.running = false;
  clearTimeout(k.retryTimer);
  k.retryTimer = undefined;
  const c = k.current;
  k.st.connected = false;
  if (!c) return;
  c.end(new Error("stopped"));
  let grace: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((r) => (grace = setTimeout(() => r("late"), CLOSE_GRACE_MS)));
  if ((await Promise.race([c.closed, late])) === "late" && c.socket?.terminate) {
    c.socket.terminate(); // the node did not answer the close: cut the connection
    await c.closed;
  }
  clearTimeout(grace);
}
