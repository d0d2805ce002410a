/**
 * A tiny DOM builder: every page is made of real elements, never of HTML strings, so that text from the chain or a
 * worker (model names, generated text) can never become markup.
 */
export type Child = Node | string | number | bigint | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined;
export type Attrs = Record<string, AttrValue | ((ev: Event) => void)>;

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

function setAttrs(el: Element, attrs: Attrs | null | undefined): void {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") {
      el.addEventListener(k.replace(/^on/, "").toLowerCase(), v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else if (v !== false && v !== null && v !== undefined) {
      if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
      else el.setAttribute(k, String(v));
    }
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replaces the children of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

let uid = 0;
/** A fresh id for label/control pairs. */
export function id(prefix: string): string {
  return `${prefix}-${++uid}`;
}

/** A labelled form control: the label, the control and an optional hint tied with aria-describedby. */
export function field(
  label: string,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  hint?: string,
): HTMLDivElement {
  if (!control.id) control.id = id("f");
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/**
 * A table: on a wide screen a table that scrolls sideways when it must (reachable by keyboard); on a phone each row
 * becomes a card whose cells carry their column's name (style.css, `data-label`), so no column hides off screen.
 */
export function table(caption: string, head: string[], rows: Child[][], o: { class?: string } = {}): HTMLElement {
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: 0 },
    h(
      "table",
      { class: o.class ?? "" },
      h("caption", null, caption),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          head.map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        null,
        rows.map((r) =>
          h(
            "tr",
            null,
            r.map((c, i) => h("td", { "data-label": head[i] ?? "" }, c)),
          ),
        ),
      ),
    ),
  );
}

type Control = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
/** What a person typed and chose in a page's forms, by a key that survives the page being drawn again. */
export type FormState = Map<string, { value: string; files?: File[] }>;

function controlKey(el: Control): string {
  const group = el.closest("form, [data-listing], [data-own-listing], [data-model]");
  const where = group
    ? `${group.tagName}.${group.getAttribute("class") ?? ""}[${["data-listing", "data-own-listing", "data-model"].map((a) => group.getAttribute(a) ?? "").join(",")}]`
    : "";
  const label = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : undefined;
  const type = el instanceof HTMLInputElement ? el.type : el.tagName;
  return `${where}|${el.name || el.getAttribute("aria-label") || label || ""}|${type}`;
}

function controls(root: Element): Control[] {
  return Array.from(root.querySelectorAll<Control>("input, textarea, select")).filter(
    (el) => !(el instanceof HTMLInputElement && ["button", "submit", "hidden", "password"].includes(el.type)),
  );
}

/** Reads every control under `root` that differs from its default (text, choice, chosen files). */
export function captureForms(root: Element): FormState {
  const out: FormState = new Map();
  const seen = new Map<string, number>();
  for (const el of controls(root)) {
    const base = controlKey(el);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    const key = `${base}#${n}`;
    if (el instanceof HTMLInputElement && el.type === "file") {
      if (el.files?.length) out.set(key, { value: "", files: Array.from(el.files) });
    } else if (el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio")) {
      if (el.checked !== el.defaultChecked) out.set(key, { value: el.checked ? "on" : "" });
    } else if (el instanceof HTMLSelectElement || el.value !== el.defaultValue) {
      out.set(key, { value: el.value });
    }
  }
  return out;
}

/** Puts back what `captureForms` read into the controls drawn again under `root` (same key, same kind). */
export function restoreForms(root: Element, state: FormState): void {
  if (state.size === 0) return;
  const seen = new Map<string, number>();
  for (const el of controls(root)) {
    const base = controlKey(el);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    const saved = state.get(`${base}#${n}`);
    if (!saved) continue;
    if (el instanceof HTMLInputElement && el.type === "file") {
      const dt = new DataTransfer();
      for (const f of saved.files ?? []) dt.items.add(f);
      el.files = dt.files;
    } else if (el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio")) {
      el.checked = saved.value === "on";
    } else if (el instanceof HTMLSelectElement) {
      if (Array.from(el.options).some((o) => o.value === saved.value)) el.value = saved.value;
    } else {
      el.value = saved.value;
    }
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }
}
