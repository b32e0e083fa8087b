// @vitest-environment happy-dom
//
// The offer list rendered into a DOM, with the Polaris elements as plain unknown elements:
// what it shows, what it sends and when it shows nothing.
import { h, render } from "preact";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { AddCartLineChange, CartLineLike, FetchLike } from "../src/api";
import { Offers, type Host } from "../src/render/Offers";

const ANSWER = {
  items: [
    { product_id: "501", variant_id: "9001", title: "Wool socks", price: 12.5, image_url: "https://cdn.shopify.com/a.jpg", reason: "Often bought with Trail boots", score: 0.9 },
    { product_id: "502", variant_id: "9002", title: "Boot wax", price: null, image_url: null, reason: "Popular right now", score: 0.5 },
    { product_id: "503", variant_id: "9003", title: "Laces", price: 3, image_url: null, reason: "", score: 0.2 },
  ],
  source: "model",
  model_version: 3,
  request_id: "req-9",
};

type Call = { url: string; body: unknown; auth: string | undefined };

function makeHost(overrides: Partial<Host> = {}, respond: (url: string) => Promise<Response> = async () => json(ANSWER)) {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const headers = init?.headers as Record<string, string> | undefined;
    calls.push({ url, body: JSON.parse(String(init?.body)), auth: headers?.Authorization });
    if (url.endsWith("/v1/events")) return new Response(null, { status: 202 });
    return respond(url);
  };
  let cart: CartLineLike[] = [
    { merchandise: { id: "gid://shopify/ProductVariant/101", product: { id: "gid://shopify/Product/11" } }, quantity: 1 },
  ];
  const host: Host = {
    placement: "checkout",
    settings: () => ({ heading: "Complete the look", k: 2, appUrl: "https://cartwise.example.com" }),
    lines: () => cart,
    getToken: async () => "session.jwt",
    sessionId: "checkout-token",
    fetch,
    formatPrice: (amount) => `€${amount.toFixed(2)}`,
    buyerCurrency: "EUR",
    t: (key, title) => ({ add: "Add", addLabel: `Add ${title}`, buy: "Buy", buyLabel: `Buy ${title}` })[key],
    addLine: async () => ({ type: "success" }),
    ...overrides,
  };
  return { host, calls, setCart: (lines: CartLineLike[]) => (cart = lines) };
}

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

async function settle() {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

function mount(host: Host) {
  const root = document.createElement("div");
  document.body.appendChild(root);
  render(h(Offers, { host }), root);
  return root;
}

afterEach(() => {
  document.body.innerHTML = "";
  vi.useRealTimers();
});

describe("Offers", () => {
  it("renders up to k offers with image, title, price, reason and an Add button", async () => {
    const { host, calls } = makeHost();
    const root = mount(host);
    await settle();
    expect(root.querySelector("s-section")?.getAttribute("heading")).toBe("Complete the look");
    const rows = root.querySelectorAll("s-grid");
    expect(rows).toHaveLength(2);
    expect(rows[0].querySelector("s-product-thumbnail")?.getAttribute("src")).toBe("https://cdn.shopify.com/a.jpg");
    expect(rows[0].textContent).toContain("Wool socks");
    expect(rows[0].textContent).toContain("€12.50");
    expect(rows[0].textContent).toContain("Often bought with Trail boots");
    expect(rows[1].textContent).toContain("Boot wax");
    expect(rows[1].textContent).not.toContain("€");
    expect([...root.querySelectorAll("s-button")].map((b) => [b.textContent, b.getAttribute("accessibilitylabel") ?? b.getAttribute("accessibilityLabel")])).toEqual([
      ["Add", "Add Wool socks"],
      ["Add", "Add Boot wax"],
    ]);

    expect(calls[0]).toEqual({
      url: "https://cartwise.example.com/v1/recommendations",
      auth: "Bearer session.jwt",
      body: { cart: [{ product_id: "11", variant_id: "101", quantity: 1 }], placement: "checkout", k: 2, session_id: "checkout-token" },
    });
  });

  it("reports one impression per shown offer, once", async () => {
    const { host, calls } = makeHost();
    const root = mount(host);
    await settle();
    render(h(Offers, { host }), root);
    await settle();
    const events = calls.filter((call) => call.url.endsWith("/v1/events"));
    expect(events).toHaveLength(1);
    expect(events[0].auth).toBe("Bearer session.jwt");
    const batch = events[0].body as { events: Record<string, string>[] };
    expect(batch.events.map((e) => [e.kind, e.product_id, e.request_id, e.placement, e.session_id])).toEqual([
      ["impression", "501", "req-9", "checkout", "checkout-token"],
      ["impression", "502", "req-9", "checkout", "checkout-token"],
    ]);
  });

  it("adds the variant on Add, and reports the click and the add", async () => {
    const changes: AddCartLineChange[] = [];
    const { host, calls } = makeHost({
      addLine: async (change) => {
        changes.push(change);
        return { type: "success" };
      },
    });
    const root = mount(host);
    await settle();
    (root.querySelector("s-button") as HTMLElement).click();
    await settle();
    expect(changes).toEqual([{ type: "addCartLine", merchandiseId: "gid://shopify/ProductVariant/9001", quantity: 1 }]);
    const kinds = calls
      .filter((call) => call.url.endsWith("/v1/events"))
      .flatMap((call) => (call.body as { events: { kind: string; product_id: string }[] }).events)
      .map((e) => `${e.kind}:${e.product_id}`);
    expect(kinds).toEqual(["impression:501", "impression:502", "click:501", "add_to_cart:501"]);
  });

  it("reports no add when checkout refuses the line, and shows no error", async () => {
    const { host, calls } = makeHost({ addLine: async () => ({ type: "error" }) });
    const root = mount(host);
    await settle();
    (root.querySelector("s-button") as HTMLElement).click();
    await settle();
    const kinds = calls
      .filter((call) => call.url.endsWith("/v1/events"))
      .flatMap((call) => (call.body as { events: { kind: string }[] }).events.map((e) => e.kind));
    expect(kinds).not.toContain("add_to_cart");
    expect(root.querySelector("s-banner")).toBeNull();
    expect(root.querySelectorAll("s-grid")).toHaveLength(2);
  });

  it("drops an offer once its variant is in the cart", async () => {
    const { host, setCart } = makeHost();
    const root = mount(host);
    await settle();
    setCart([{ merchandise: { id: "gid://shopify/ProductVariant/9001", product: { id: "gid://shopify/Product/501" } }, quantity: 1 }]);
    render(h(Offers, { host }), root);
    await settle();
    const titles = [...root.querySelectorAll("s-grid")].map((row) => row.querySelector("s-text")?.textContent);
    expect(titles).toEqual(["Boot wax", "Laces"]);
  });

  it("links to a new checkout on the Thank you page", async () => {
    const { host, calls } = makeHost({ placement: "thank_you", addLine: undefined, storefrontUrl: "https://shop.example.com" });
    const root = mount(host);
    await settle();
    const button = root.querySelector("s-button") as HTMLElement;
    expect(button.getAttribute("href")).toBe("https://shop.example.com/cart/9001:1");
    expect(button.textContent).toBe("Buy");
    expect((calls[0].body as { placement: string }).placement).toBe("thank_you");
  });

  it.each([
    ["a server error", async () => json({ error: { code: "internal", message: "x" } }, 500)],
    ["a malformed answer", async () => json({ nope: true })],
    ["no items", async () => json({ ...ANSWER, items: [] })],
    ["a network failure", async () => Promise.reject(new TypeError("Failed to fetch"))],
  ] as const)("renders nothing on %s", async (_name, respond) => {
    const { host, calls } = makeHost({}, respond);
    const root = mount(host);
    await settle();
    expect(root.innerHTML).toBe("");
    expect(calls.filter((call) => call.url.endsWith("/v1/events"))).toHaveLength(0);
  });

  it("renders nothing when the server is too slow", async () => {
    vi.useFakeTimers();
    const { host } = makeHost({}, () => new Promise(() => {}));
    const root = mount(host);
    await vi.advanceTimersByTimeAsync(601);
    expect(root.innerHTML).toBe("");
  });

  it("renders nothing and calls nothing without an app URL or a session token", async () => {
    const noUrl = makeHost({ settings: () => ({ heading: "H", k: 3, appUrl: null }) });
    const noToken = makeHost({ getToken: () => Promise.reject(new Error("no token")) });
    const a = mount(noUrl.host);
    const b = mount(noToken.host);
    await settle();
    expect(a.innerHTML).toBe("");
    expect(b.innerHTML).toBe("");
    expect(noUrl.calls).toHaveLength(0);
    expect(noToken.calls).toHaveLength(0);
  });

  it("asks again when the merchant sets the app URL or changes the number of items", async () => {
    let settings = { heading: "H", k: 2, appUrl: null as string | null };
    const { host, calls } = makeHost({ settings: () => settings });
    const root = mount(host);
    await settle();
    expect(calls).toHaveLength(0);
    settings = { ...settings, appUrl: "https://cartwise.example.com" };
    render(h(Offers, { host }), root);
    await settle();
    expect(root.querySelectorAll("s-grid")).toHaveLength(2);
    settings = { ...settings, k: 1 };
    render(h(Offers, { host }), root);
    await settle();
    const asked = calls.filter((call) => call.url.endsWith("/v1/recommendations")).map((call) => (call.body as { k: number }).k);
    expect(asked).toEqual([2, 1]);
    expect(root.querySelectorAll("s-grid")).toHaveLength(1);
  });
});
