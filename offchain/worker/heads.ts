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
  const where = redactUrl(o.url);
  const network = Network.from(o.chainId);
  const connectTimeoutMs = o.connectTimeoutMs ?? 10_000;
  const keepaliveMs = o.keepaliveMs ?? 30_000;
  const keepaliveTimeoutMs = o.keepaliveTimeoutMs ?? 10_000;
  // Parts of the URL that may hold an API key, kept out of logged error messages (ws quotes an unparsable URL whole).
  const secrets = [o.url];
  try {
    const u = new URL(o.url);
    secrets.push(...[u.pathname.length > 1 ? u.pathname : "", u.search, u.password].filter((x) => x.length > 0));
  } catch {
    // ws will refuse it too, quoting it: the whole URL is in `secrets`.
  }
  const describe = (e: unknown): string => secrets.reduce((m, x) => m.split(x).join("[redacted]"), describeError(e));
  const st: HeadsStatus = { connected: false, heads: 0, lastHead: null, failures: 0, lastError: null };

  let running = false;
  let attempt = 0; // failures since the last successful subscription
  let outage = false; // the current outage has been logged
  let retryTimer: NodeJS.Timeout | undefined;
  let current: { end(why: unknown): void; closed: Promise<void>; socket?: Socket } | undefined;

  const failed = (why: unknown): void => {
    st.connected = false;
    st.failures++;
    st.lastError = { message: describe(why), at: new Date().toISOString() };
    const delayMs = backoffDelay(attempt++, o.backoff);
    if (!outage) {
      outage = true;
      o.log.warn(
        { ws: where, err: st.lastError.message, retryInMs: delayMs },
        "new-heads WebSocket failed: polling carries on, reconnecting with backoff",
      );
    } else {
      o.log.debug({ ws: where, err: st.lastError.message, attempt, retryInMs: delayMs }, "new-heads WebSocket retry");
    }
    retryTimer = setTimeout(connect, delayMs);
  };

  const onHead = (head: unknown): void => {
    const raw = head !== null && typeof head === "object" ? (head as { number?: unknown }).number : undefined;
    const n = typeof raw === "string" || typeof raw === "number" ? Number(raw) : NaN;
    st.heads++;
    if (Number.isSafeInteger(n)) st.lastHead = n;
    o.onHead(Number.isSafeInteger(n) ? n : null);
  };

  function connect(): void {
    retryTimer = undefined;
    if (!running) return;
    let done = false;
    let closedResolve!: () => void;
    const closed = new Promise<void>((r) => (closedResolve = r));
    let endRejects!: (e: unknown) => void;
    const ended = new Promise<never>((_, reject) => (endRejects = reject));
    ended.catch(() => undefined);
    let provider: WebSocketProvider | undefined;

    const conn: NonNullable<typeof current> = {
      closed,
      end(why: unknown): void {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(keepalive);
        clearTimeout(unanswered);
        endRejects(why);
        if (current === conn) current = undefined;
        // Closes the socket (gracefully when open) and cancels ethers' queued requests.
        provider?.destroy().catch(() => undefined);
        if (running) failed(why);
      },
    };
    current = conn;
    const timer = setTimeout(
      () => conn.end(new Error(`no new-heads subscription within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    let keepalive: NodeJS.Timeout | undefined;
    let unanswered: NodeJS.Timeout | undefined;

    try {
      provider = new WebSocketProvider(o.url, network, { staticNetwork: network });
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

    const race = <T>(x: Promise<T>): Promise<T> => Promise.race([x, ended]);
    void (async () => {
      try {
        const chain = Number(BigInt(await race(p.send("eth_chainId", []))));
        if (chain !== o.chainId) {
          throw new Error(
            `the WebSocket node serves chain ${chain}, not chain ${o.chainId}: point it at a node of chain ${o.chainId}`,
          );
        }
        const id: unknown = await race(p.send("eth_subscribe", ["newHeads"]));
        if (typeof id !== "string" && typeof id !== "number") throw new Error("eth_subscribe gave no subscription id");
        if (done) return;
        p._register(id, new NewHeads(p, onHead));
        clearTimeout(timer);
        keepalive = setInterval(() => {
          if (unanswered) return; // the last one is still out
          unanswered = setTimeout(
            () => conn.end(new Error(`the node did not answer a keepalive within ${keepaliveTimeoutMs} ms`)),
            keepaliveTimeoutMs,
          );
          race(p.send("eth_chainId", [])).then(
            () => {
              clearTimeout(unanswered);
              unanswered = undefined;
            },
            (e: unknown) => conn.end(e),
          );
        }, keepaliveMs);
        st.connected = true;
        if (outage) o.log.info({ ws: where, failures: attempt }, "new-heads WebSocket reconnected");
        else o.log.info({ ws: where }, "subscribed to new heads");
        attempt = 0;
        outage = false;
      } catch (e) {
        conn.end(e);
      }
    })();
  }

  return {
    start() {
      if (running) return;
      running = true;
      connect();
    },
    async stop() {
      running = false;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      const c = current;
      st.connected = false;
      if (!c) return;
      c.end(new Error("stopped"));
      let grace: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((r) => (grace = setTimeout(() => r("late"), CLOSE_GRACE_MS)));
      if ((await Promise.race([c.closed, late])) === "late" && c.socket?.terminate) {
        c.socket.terminate(); // the node did not answer the close: cut the connection
        await c.closed;
      }
      clearTimeout(grace);
    },
    status() {
      return { ...st, lastError: st.lastError && { ...st.lastError } };
    },
  };
}
