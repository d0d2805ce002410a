/**
 * The PostHuman marketplace in the browser: a hash router over six pages. Everything is read from the chain through
 * the page's RPC connection and written through the connected account; the worker's API serves this page, the
 * configuration, job progress, uploads and results.
 */
import { App, errorBox, renderAccount } from "./app";
import { loadConfig } from "./config";
import { captureForms, fill, h, restoreForms } from "./dom";
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
  const render = async () => {
    const mine = ++generation;
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
    try {
      if (!route) {
        fill(
          main,
          h("h1", { tabindex: -1 }, "Page not found"),
          h("p", null, h("a", { href: "#/" }, "Go to the models")),
        );
      } else {
        document.title = `${route.title(params)} · PostHuman`;
        const c = await route.page(app, main, params);
        if (mine !== generation) {
          if (c) c();
          return;
        }
        cleanup = c;
      }
    } catch (e) {
      if (mine === generation) fill(main, h("h1", { tabindex: -1 }, "Something went wrong"), errorBox(e));
    } finally {
      if (mine === generation) {
        main.removeAttribute("aria-busy");
        main.dataset.ready = String(mine);
        const h1 = main.querySelector("h1");
        if (h1 && document.activeElement?.closest("header") === null) h1.focus({ preventScroll: true });
      }
    }
  };
  renderAccount(app, accountEl);
  app.onAccountChange(() => {
    // The page is drawn again for the new account; what was typed and chosen in its forms stays.
    const typed = captureForms(main);
    renderAccount(app, accountEl);
    void render().then(() => restoreForms(main, typed));
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
