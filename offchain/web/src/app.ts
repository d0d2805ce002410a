/**
 * The application's state shared by the pages: configuration, the chain (Market), the worker (the SDK's WorkerApi), the
 * connected account, and the small UI pieces every page uses (error boxes, action runners, the header).
 */
import { ethers } from "ethers";
import { authDomain } from "../../protocol/auth";
import { Actions, type Say } from "./actions";
import { Market, type Snapshot } from "./chain";
import type { WebConfig } from "./config";
import { h, fill, type Child } from "./dom";
import { explain, UserError, workerDownError } from "./errors";
import { short, tokens } from "./format";
import {
  connectInjected,
  DEV_PEOPLE,
  devAccount,
  devLabelOf,
  LOCAL_CHAIN_IDS,
  switchNetwork,
  type Account,
  type DevName,
} from "./wallet";
import { WorkerApi } from "../../sdk/browser";

const ACCOUNT_KEY = "posthuman.account";

export class App {
  readonly market: Market;
  readonly worker: WorkerApi;
  account?: Account;
  private listeners: (() => void)[] = [];
  workerDown?: string;

  constructor(readonly cfg: WebConfig) {
    this.market = new Market(cfg);
    const workerUrl = (cfg.workerUrl ?? window.location.origin).replace(/\/$/, "");
    this.worker = new WorkerApi(workerUrl, authDomain(cfg.book.chainId, cfg.book.contracts.JobMarket));
  }

  get local(): boolean {
    return LOCAL_CHAIN_IDS.has(this.cfg.book.chainId);
  }

  onAccountChange(f: () => void): void {
    this.listeners.push(f);
  }

  private changed(): void {
    for (const f of this.listeners) f();
  }

  /** Restores the dev account chosen earlier in this tab. */
  restore(): void {
    const saved = sessionStorage.getItem(ACCOUNT_KEY);
    if (saved && saved in DEV_PEOPLE && this.local) {
      this.account = devAccount(saved as DevName, this.market.provider, this.cfg.book.chainId);
    }
  }

  useDev(name: DevName): void {
    this.account = devAccount(name, this.market.provider, this.cfg.book.chainId);
    sessionStorage.setItem(ACCOUNT_KEY, name);
    this.changed();
  }

  async useInjected(): Promise<void> {
    this.account = await connectInjected();
    sessionStorage.removeItem(ACCOUNT_KEY);
    this.changed();
  }

  disconnect(): void {
    this.account = undefined;
    sessionStorage.removeItem(ACCOUNT_KEY);
    this.changed();
  }

  /** The wallet is on another chain than the marketplace: the error offers to switch. */
  wrongNetwork(): UserError | undefined {
    const a = this.account;
    if (!a || a.chainId === this.cfg.book.chainId) return undefined;
    return new UserError(
      `Wrong network: your wallet is on chain ${a.chainId}, this marketplace is on chain ${this.cfg.book.chainId}.`,
      "Switch your wallet to the marketplace's network; nothing can be signed until then.",
      {
        label: `Switch to chain ${this.cfg.book.chainId}`,
        run: async () => {
          await switchNetwork(this.cfg.book.chainId, this.cfg.rpcUrl);
          await this.useInjected();
        },
      },
    );
  }

  /** The write side for the connected account; errors when there is none or it is on the wrong chain. */
  actions(say?: Say): Actions {
    if (!this.account) {
      throw new UserError(
        "Connect an account first.",
        this.local
          ? "Pick one of the dev accounts (alice … elena) at the top of the page, or connect your wallet."
          : "Connect your wallet at the top of the page.",
      );
    }
    const wrong = this.wrongNetwork();
    if (wrong) throw wrong;
    return new Actions(this.market, this.worker.baseUrl, this.account, say);
  }

  async snapshot(): Promise<Snapshot> {
    return this.market.snapshot();
  }

  /** Checks the worker and shows a banner while it is down. */
  async checkWorker(banner: HTMLElement): Promise<void> {
    try {
      await this.worker.health();
      this.workerDown = undefined;
      fill(banner);
    } catch (e) {
      this.workerDown = explain(e).title;
      fill(
        banner,
        errorBox(
          workerDownError(e),
          "The worker is down: you can browse, but jobs and publishing wait until it is back.",
        ),
      );
    }
  }
}

/** An error as a person reads it: what happened, the fix, and a button or link that applies it. */
export function errorBox(e: unknown, lead?: string): HTMLElement {
  const x = explain(e);
  const action = x.action;
  return h(
    "div",
    { class: "error", role: "alert" },
    h("p", { class: "error-title" }, lead ? `${lead} ` : "", x.title),
    x.detail ? h("p", { class: "error-detail" }, x.detail) : null,
    x.fix ? h("p", { class: "error-fix" }, h("strong", null, "How to fix: "), x.fix) : null,
    action
      ? "href" in action
        ? h("p", null, h("a", { href: action.href, class: "button" }, action.label))
        : h(
            "button",
            {
              type: "button",
              onclick: () => {
                void Promise.resolve(action.run()).catch((err: unknown) => {
                  const box = document.activeElement?.closest(".error");
                  box?.replaceWith(errorBox(err));
                });
              },
            },
            action.label,
          )
      : null,
  );
}

/**
 * Runs an action from a button: disables it, shows live progress lines in `status`, then the outcome (a success
 * message or an error box). Returns the action's value, or undefined when it failed.
 */
export async function runAction<T>(
  button: HTMLButtonElement,
  status: HTMLElement,
  work: (say: Say) => Promise<T>,
  done: (value: T) => Child,
): Promise<T | undefined> {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  const log = h("ul", { class: "steps" });
  fill(status, log);
  const say: Say = (line) => log.appendChild(h("li", null, line));
  try {
    const v = await work(say);
    status.appendChild(h("p", { class: "ok" }, done(v)));
    document.dispatchEvent(new Event(CHAIN_CHANGED)); // the header's balance, among others, is stale now
    return v;
  } catch (e) {
    status.appendChild(errorBox(e));
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** Dispatched on `document` after an action's transactions succeed. */
export const CHAIN_CHANGED = "posthuman:chain-changed";
let balanceListener: (() => void) | undefined;

/** The account picker in the header: dev accounts on a local chain, and the injected wallet. */
export function renderAccount(app: App, el: HTMLElement): void {
  const a = app.account;
  const select = h(
    "select",
    { id: "account-select", "aria-label": "Account" },
    h("option", { value: "" }, a?.kind === "injected" ? "Your wallet" : "Not connected"),
    app.local
      ? h(
          "optgroup",
          { label: "Dev accounts (local chain)" },
          (Object.keys(DEV_PEOPLE) as DevName[]).map((n) =>
            h("option", { value: n, selected: a?.kind === "dev" && a.label === n }, n),
          ),
        )
      : null,
  );
  select.addEventListener("change", () => {
    if (select.value) app.useDev(select.value as DevName);
    else app.disconnect();
  });
  const status = h("span", { class: "account-status", "aria-live": "polite" });
  const connect = h(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: () => {
        app.useInjected().catch((e: unknown) => fill(status, errorBox(e)));
      },
    },
    a?.kind === "injected" ? "Reconnect wallet" : "Connect wallet",
  );
  fill(el, app.local ? select : null, connect, status);
  if (a) {
    const balance = h("span", { class: "balance" });
    fill(status, h("span", { class: "addr", title: a.address }, `${a.label} ${short(a.address, 4)}`), balance);
    const show = () =>
      app.market.base
        .balanceOf(a.address)
        .then((b) => fill(balance, ` · ${tokens(b, 2)} OCEAN`))
        .catch(() => undefined);
    // Read again after every transaction the page sends (one listener: the header is redrawn on account changes).
    if (balanceListener) document.removeEventListener(CHAIN_CHANGED, balanceListener);
    balanceListener = () => void show();
    document.addEventListener(CHAIN_CHANGED, balanceListener);
    void show();
    const wrong = app.wrongNetwork();
    if (wrong) status.appendChild(errorBox(wrong));
  }
}

/** The name of an address for display: a dev person's name on a local chain, else a short address. */
export function who(app: App, address: string): string {
  if (address === ethers.ZeroAddress) return "nobody";
  if (app.account && app.account.address.toLowerCase() === address.toLowerCase() && !app.local) return "you";
  const n = app.local ? devLabelOf(address) : undefined;
  return n ? `${n} (${short(address, 4)})` : short(address, 4);
}
