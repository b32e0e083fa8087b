// @vitest-environment happy-dom
//
// The deployable bundle, built as `npm run build` (and Shopify CLI) builds it, run against a
// stand-in `shopify` global: both targets register, read their API and render (or not).
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { esbuildOptions, readTargets } from "../scripts/build.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [{ targets }] = readTargets(readFileSync(join(root, "shopify.extension.toml"), "utf8"));
let code = "";

async function bundleWith(appUrl: string | undefined): Promise<string> {
  const saved = process.env.CARTWISE_APP_URL;
  if (appUrl === undefined) delete process.env.CARTWISE_APP_URL;
  else process.env.CARTWISE_APP_URL = appUrl;
  try {
    const result = await build({ ...esbuildOptions(targets), write: false, outfile: "bundle.js" });
    return result.outputFiles[0].text;
  } finally {
    if (saved === undefined) delete process.env.CARTWISE_APP_URL;
    else process.env.CARTWISE_APP_URL = saved;
  }
}

beforeAll(async () => {
  code = await bundleWith(undefined);
});

afterEach(() => {
  // A fresh <body>: each load is a new Preact instance, which must not diff against the last one's tree.
  document.documentElement.replaceChild(document.createElement("body"), document.body);
  vi.unstubAllGlobals();
});

function signal<T>(value: T) {
  return { value, subscribe: () => () => {} };
}

const ANSWER = {
  items: [{ product_id: "501", variant_id: "9001", title: "Wool socks", price: 12.5, image_url: null, reason: "Goes with boots", score: 1 }],
  source: "model",
  model_version: 1,
  request_id: "req-1",
};

type Registered = Record<string, (...args: unknown[]) => unknown>;

/** Loads the bundle with a stand-in for checkout's `shopify` global; returns the registered targets. */
function load(api: Record<string, unknown>, bundle = code): Registered {
  const registered: Registered = {};
  const shopify = { ...api, extend: (target: string, fn: (...args: unknown[]) => unknown) => (registered[target] = fn) };
  vi.stubGlobal("shopify", shopify);
  // A checkout worker has no `process`: hide Node's from the bundle.
  new Function("process", bundle)(undefined);
  return registered;
}

function standardApi(overrides: Record<string, unknown> = {}) {
  return {
    settings: signal({ heading: "Goes well with", item_count: 2, app_url: "https://cartwise.example.com/" }),
    lines: signal([{ merchandise: { id: "gid://shopify/ProductVariant/101", product: { id: "gid://shopify/Product/11" } }, quantity: 1 }]),
    sessionToken: { get: async () => "session.jwt" },
    checkoutToken: signal("checkout-token"),
    localization: { currency: signal({ isoCode: "EUR" }) },
    i18n: { translate: (key: string) => key, formatCurrency: (n: number) => `€${n.toFixed(2)}` },
    shop: { storefrontUrl: "https://shop.example.com" },
    instructions: signal({ lines: { canAddCartLine: true } }),
    applyCartLinesChange: vi.fn(async () => ({ type: "success" })),
    ...overrides,
  };
}

async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

describe("bundle", () => {
  it("registers both targets", () => {
    const registered = load(standardApi());
    expect(Object.keys(registered).sort()).toEqual(["purchase.checkout.block.render", "purchase.thank-you.block.render"]);
  });

  it("renders checkout offers from the server's answer and adds a line", async () => {
    const fetch = vi.fn(async (url: string) =>
      url.endsWith("/v1/events") ? new Response(null, { status: 202 }) : new Response(JSON.stringify(ANSWER), { status: 200 }),
    );
    vi.stubGlobal("fetch", fetch);
    const api = standardApi();
    const registered = load(api);
    await registered["purchase.checkout.block.render"]();
    await settle();
    expect(fetch.mock.calls[0][0]).toBe("https://cartwise.example.com/v1/recommendations");
    expect(document.body.querySelector("s-section")?.getAttribute("heading")).toBe("Goes well with");
    expect(document.body.textContent).toContain("Wool socks");
    expect(document.body.textContent).toContain("€12.50");
    (document.body.querySelector("s-button") as HTMLElement).click();
    await settle();
    expect(api.applyCartLinesChange).toHaveBeenCalledWith({
      type: "addCartLine",
      merchandiseId: "gid://shopify/ProductVariant/9001",
      quantity: 1,
    });
  });

  it("renders nothing in a checkout that can't take new lines", async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify(ANSWER), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const registered = load(standardApi({ instructions: signal({ lines: { canAddCartLine: false } }) }));
    await registered["purchase.checkout.block.render"]();
    await settle();
    expect(document.body.innerHTML).toBe("");
    expect(fetch).not.toHaveBeenCalled();
  });

  it("renders Thank you offers as links to a new checkout", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify(ANSWER), { status: 200 }));
    const { applyCartLinesChange: _, ...thankYouApi } = standardApi();
    const registered = load(thankYouApi);
    await registered["purchase.thank-you.block.render"]();
    await settle();
    expect(document.body.querySelector("s-button")?.getAttribute("href")).toBe("https://shop.example.com/cart/9001:1");
  });

  it("renders nothing when the server fails", async () => {
    vi.stubGlobal("fetch", async () => new Response("boom", { status: 502 }));
    const registered = load(standardApi());
    await registered["purchase.checkout.block.render"]();
    await settle();
    expect(document.body.innerHTML).toBe("");
  });

  it("calls the app URL it was built with when the merchant set none", async () => {
    const fetch = vi.fn(async (_url: string) => new Response(JSON.stringify(ANSWER), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const noSetting = { settings: signal({}) };
    const registered = load(standardApi(noSetting), await bundleWith("https://built-in.example.com"));
    await registered["purchase.checkout.block.render"]();
    await settle();
    expect(fetch.mock.calls[0]?.[0]).toBe("https://built-in.example.com/v1/recommendations");
    expect(document.body.querySelector("s-section")?.getAttribute("heading")).toBe("You may also like");
  });

  it("renders nothing, and throws nothing, with neither a setting nor a built-in app URL", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    expect(code).not.toContain("built-in.example.com");
    const registered = load(standardApi({ settings: signal({}) }));
    await registered["purchase.checkout.block.render"]();
    await settle();
    expect(fetch).not.toHaveBeenCalled();
    expect(document.body.innerHTML).toBe("");
  });
});
