import net from "node:net";

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Closes the listening socket and cuts every open connection: the RPC node looks down. */
  pause(): Promise<void>;
  /** Listens again on the same port: the node is back, with its chain state intact. */
  resume(): Promise<void>;
  /**
   * Black-holes every connection, open or new, without closing any: bytes are accepted and dropped both ways, as by
   * a middlebox that lost its state. `thaw()` forwards again.
   */
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

/** A TCP proxy from a free port of 127.0.0.1 to `targetPort`, to take an RPC node away and bring it back. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  let frozen = false;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const srv = net.createServer((client) => {
        const upstream = net.connect(targetPort, "127.0.0.1");
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => undefined);
        }
        client.on("data", (d: Buffer) => void (frozen || upstream.write(d)));
        upstream.on("data", (d: Buffer) => void (frozen || client.write(d)));
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", () => {
        port = (srv.address() as net.AddressInfo).port;
        server = srv;
        resolve();
      });
    });
  const pause = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await listen();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pause,
    resume: listen,
    freeze: () => void (frozen = true),
    thaw: () => void (frozen = false),
    close: pause,
  };
}
