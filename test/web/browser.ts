/**
 * Real headless Chromium for the web tests: Debian's `chromium` (apt-get install -y chromium) driven by
 * playwright-core. Nothing is downloaded: playwright-core ships no browser, and the path is fixed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env.POSTHUMAN_CHROMIUM ?? "/usr/bin/chromium";
/** Where screenshots go (git-ignored). */
export const SHOTS_DIR = path.join(__dirname, "..", "..", "test-output", "web");
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: install Debian's with \`apt-get install -y chromium\` (or set POSTHUMAN_CHROMIUM).`,
    );
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: DESKTOP,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A full-page screenshot in test-output/web/<name>.png. */
export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SHOTS_DIR, { recursive: true });
  const file = path.join(SHOTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core (WCAG 2.x A and AA rules) on the page; returns every violation. The script is evaluated through the
 * DevTools protocol, so the page's Content-Security-Policy stays on.
 */
export async function axe(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const w = window as unknown as {
      axe: {
        run(
          ctx: Document,
          o: object,
        ): Promise<{
          violations: {
            id: string;
            impact: string | null;
            help: string;
            nodes: { target: string[] }[];
          }[];
        }>;
      };
    };
    const r = await w.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      resultTypes: ["violations"],
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  });
}

/** Violations, one line each with their impact, for an assertion message. */
export function violationLines(v: AxeViolation[]): string[] {
  return v.map((x) => `${x.impact} ${x.id}: ${x.help} — ${x.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/**
 * An EIP-1193 wallet injected before the page loads, as an extension would: it forwards reads to the chain's RPC and
 * answers for `address` on `chainId`; `rejectSends` makes it refuse every transaction as a person pressing "Reject"
 * would (error 4001). wallet_switchEthereumChain moves it to the asked chain and emits chainChanged. With `nodeSigns`,
 * it sends transactions as a wallet would, answering with their hash: the local chain's node signs them for `address`
 * (`hardhat node` unlocks the dev accounts), so the page goes through the injected path (eth_sendTransaction).
 */
export function fakeWalletScript(o: {
  rpcUrl: string;
  address: string;
  chainId: number;
  rejectSends: boolean;
  nodeSigns?: boolean;
}): string {
  return `(() => {
    const o = ${JSON.stringify(o)};
    let chainId = o.chainId;
    const handlers = {};
    const emit = (ev, arg) => (handlers[ev] || []).forEach((h) => h(arg));
    let n = 0;
    const rpc = async (method, params) => {
      const res = await fetch(o.rpcUrl, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++n, method, params: params || [] }) });
      const body = await res.json();
      if (body.error) { const e = new Error(body.error.message); e.code = body.error.code; e.data = body.error.data; throw e; }
      return body.result;
    };
    window.ethereum = {
      isFakeWallet: true,
      on(ev, h) { (handlers[ev] = handlers[ev] || []).push(h); },
      removeListener() {},
      async request({ method, params }) {
        if (method === "eth_requestAccounts" || method === "eth_accounts") return [o.address];
        if (method === "eth_chainId") return "0x" + chainId.toString(16);
        if (method === "net_version") return String(chainId);
        if (method === "wallet_switchEthereumChain") { chainId = parseInt(params[0].chainId, 16); emit("chainChanged", params[0].chainId); return null; }
        if (method === "eth_sendTransaction" || method.startsWith("eth_signTypedData") || method === "personal_sign") {
          if (o.rejectSends) { const e = new Error("User rejected the request."); e.code = 4001; throw e; }
          if (o.nodeSigns && method === "eth_sendTransaction") return rpc(method, [{ ...params[0], from: o.address }]);
          throw Object.assign(new Error("this test wallet signs nothing"), { code: 4200 });
        }
        return rpc(method, params);
      },
    };
  })();`;
}
