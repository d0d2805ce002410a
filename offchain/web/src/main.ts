/**
 * The PostHuman marketplace in the browser: a hash router over six pages. Everything is read from the chain through
 * the page's RPC connection and written through the connected account; the worker's API serves this page, the
 * configuration, job progress, uploads and results.
 */
import { App, errorBox, renderAccount } from "./app";
import { loadConfig } from "./config";
import { captureForms, fill, h, restoreForms, type FormState } from "./dom";
import { cataloguePage } from "./pages/catalogue";
import { jobPage } from "./pages/job";
import { modelPage } from "./pages/model";
import { publishPage } from "./pages/publish";
import { receiptsPage } from "./pages/receipts";
import { rewardsPage } from "./pages/rewards";

type Page = (app: App, main: HTMLElement, params: string[]) => Promise<void | (() => void)>;

const ROUTES: Record<string, { page: Page; title: (p: string[]) => string }> = {
  "": { page: cataloguePage, title: () => "Models" },
  model: { page: modelPage, title: (p) => `Model ${p[0]}` },
  job: { page: jobPage, title: (p) => `Job ${p[0]}` },
  receipts: { page: receiptsPage, title: () => "Receipts" },
  rewards: { page: rewardsPage, title: () => "Rewards" },
  publish: { page: publishPage, title: () => "Publish a model" },
};

async function boot(): Promise<void> {
  const main = document.getElementById("main") as HTMLElement;
  const accountEl = document.getElementById("account") as HTMLElement;
  const banner = document.getElementById("banner") as HTMLElement;
  let app: App;
  try {
    app = new App(await loadConfig());
    app.restore();
  } catch (e) {
    fill(main, h("h1", null, "The marketplace cannot start"), errorBox(e));
    return;
  }
  let cleanup: (() => void) | void = undefined;
  let generation = 0;
  /**
   * Draws the route in the hash. Each page is drawn into a detached container, moved into `<main>` only if it is
   * still the current render when it is done: a page awaits the chain, and meanwhile a click or an account switch may
   * have started another render, whose page must never be mixed with (or replaced by) this one's. True when this
   * render is the one shown.
   */
  const render = async (): Promise<boolean> => {
    const mine = ++generation;
    const current = () => mine === generation;
    if (cleanup) cleanup();
    cleanup = undefined;
    const [name = "", ...params] = window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
    const route = ROUTES[name];
    document.querySelectorAll("nav a").forEach((a) => {
      const target = (a.getAttribute("href") ?? "").replace(/^#\/?/, "");
      if (target === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    main.setAttribute("aria-busy", "true");
    fill(main, h("p", { class: "loading" }, "Reading the chain…"));
    const view = document.createElement("div");
    try {
      if (!route) {
        fill(
          view,
          h("h1", { tabindex: -1 }, "Page not found"),
          h("p", null, h("a", { href: "#/" }, "Go to the models")),
        );
      } else {
        document.title = `${route.title(params)} · PostHuman`;
        const c = await route.page(app, view, params);
        if (!current()) {
          if (c) c();
          return false;
        }
        cleanup = c;
      }
      main.replaceChildren(...Array.from(view.childNodes));
      // (`#/model/2/buy`, `#/job/3/challenge`: the part of the page the link names.)
      if (params[1]) document.getElementById(params[1])?.scrollIntoView();
    } catch (e) {
      if (current()) fill(main, h("h1", { tabindex: -1 }, "Something went wrong"), errorBox(e));
    } finally {
      if (current()) {
        main.removeAttribute("aria-busy");
        main.dataset.ready = String(mine);
        const h1 = main.querySelector("h1");
        if (h1 && document.activeElement?.closest("header") === null) h1.focus({ preventScroll: true });
      }
    }
    return current();
  };
  renderAccount(app, accountEl);
  // What was typed and chosen in the page's forms, kept across the redraw for another account. Read only from a page
  // that is shown: a second switch while the first redraw runs keeps what the first one read.
  let typed: FormState = new Map();
  app.onAccountChange(() => {
    if (!main.hasAttribute("aria-busy")) typed = captureForms(main);
    renderAccount(app, accountEl);
    void render().then((shown) => {
      if (shown) restoreForms(main, typed);
    });
  });
  window.ethereum?.on?.("chainChanged", () => {
    if (app.account?.kind === "injected") void app.useInjected().catch(() => app.disconnect());
  });
  window.ethereum?.on?.("accountsChanged", () => {
    if (app.account?.kind === "injected") void app.useInjected().catch(() => app.disconnect());
  });
  window.addEventListener("hashchange", () => void render());
  void app.checkWorker(banner);
  setInterval(() => void app.checkWorker(banner), 15_000);
  await render();
}

void boot();
