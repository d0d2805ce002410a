/** What the page learns from the server that serves it (GET /web-config.json, written by `posthuman up`). */
import type { AddressBook } from "../../protocol/address-book";

export interface WebConfig {
  /** JSON-RPC endpoint the page reads the chain from (the embedded chain of `posthuman up`). */
  rpcUrl: string;
  /** The address book of the deployment (deployments/<network>.json). */
  book: AddressBook;
  /** The worker's API; default: the origin that served the page. */
  workerUrl?: string;
}

export async function loadConfig(): Promise<WebConfig> {
  let res: Response;
  try {
    res = await fetch("./web-config.json", { cache: "no-store" });
  } catch (e) {
    throw new Error(`The marketplace's server does not answer (${(e as Error).message}). Start it with \`npm start\`.`);
  }
  if (!res.ok) {
    throw new Error(
      `No web-config.json (HTTP ${res.status}): open the page that \`posthuman up\` prints (http://127.0.0.1:8550/).`,
    );
  }
  const cfg = (await res.json()) as WebConfig;
  if (!cfg.rpcUrl || !cfg.book?.contracts) throw new Error("web-config.json lacks rpcUrl or the address book.");
  return cfg;
}
