import { afterEach, describe, expect, it, vi } from "vitest";

import {
  addToCartChange,
  buildEvents,
  buildRecommendationRequest,
  cartItems,
  cartPermalink,
  clampK,
  displayPrice,
  fetchRecommendations,
  newEventId,
  normalizeAppUrl,
  numericId,
  parseRecommendations,
  readSettings,
  selectOffers,
  sendEvents,
  variantGid,
  type CartLineLike,
  type FetchLike,
  type Offer,
  type RecommendationRequest,
  type Recommendations,
} from "../src/api";

function line(variant: number | string, product: number | string, quantity = 1): CartLineLike {
  return {
    merchandise: {
      id: typeof variant === "number" ? `gid://shopify/ProductVariant/${variant}` : variant,
      product: { id: typeof product === "number" ? `gid://shopify/Product/${product}` : product },
    },
    quantity,
  };
}

const ANSWER = {
  items: [
    {
      product_id: "501",
      variant_id: "9001",
      title: "Wool socks",
      price: 12.5,
      image_url: "https://cdn.shopify.com/socks.jpg",
      reason: "Often bought with Trail boots",
      score: 0.91,
    },
    {
      product_id: "502",
      variant_id: "9002",
      title: "Boot wax",
      price: null,
      image_url: null,
      reason: "Popular right now",
      score: 0.5,
    },
  ],
  source: "model",
  model_version: 7,
  request_id: "req-123",
};

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const REQUEST: RecommendationRequest = {
  cart: [{ product_id: "11", variant_id: "101", quantity: 2 }],
  placement: "checkout",
  k: 3,
  session_id: "checkout-token",
};

function offer(product: string, variant: string | null, extra: Partial<Offer> = {}): Offer {
  return {
    product_id: product,
    variant_id: variant,
    title: `Product ${product}`,
    price: 10,
    currency: null,
    image_url: null,
    reason: "",
    ...extra,
  };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("ids", () => {
  it("takes the numeric tail of Shopify GIDs and keeps numeric ids", () => {
    expect(numericId("gid://shopify/Product/123")).toBe("123");
    expect(numericId("gid://shopify/ProductVariant/456?selling_plan=1")).toBe("456");
    expect(numericId("789")).toBe("789");
    expect(numericId(42)).toBe("42");
  });

  it("refuses anything that is not a Shopify id", () => {
    for (const bad of ["", "abc", "gid://shopify/Product/", "gid://other/Product/1x", -1, 1.5, null, undefined, {}]) {
      expect(numericId(bad)).toBeNull();
    }
  });

  it("builds variant GIDs from numeric ids and keeps variant GIDs", () => {
    expect(variantGid("9001")).toBe("gid://shopify/ProductVariant/9001");
    expect(variantGid(9001)).toBe("gid://shopify/ProductVariant/9001");
    expect(variantGid("gid://shopify/ProductVariant/9001")).toBe("gid://shopify/ProductVariant/9001");
    expect(variantGid(null)).toBeNull();
    expect(variantGid("gid://shopify/ProductVariant/x")).toBeNull();
  });
});

describe("request building", () => {
  it("turns cart lines into the server's cart items", () => {
    expect(cartItems([line(101, 11, 2), line(102, 12)])).toEqual([
      { product_id: "11", variant_id: "101", quantity: 2 },
      { product_id: "12", variant_id: "102", quantity: 1 },
    ]);
  });

  it("merges lines of one variant and skips lines without Shopify ids", () => {
    const lines = [line(101, 11, 1), line(101, 11, 3), line("custom-1", 12), line(103, "nope")];
    expect(cartItems(lines)).toEqual([{ product_id: "11", variant_id: "101", quantity: 4 }]);
  });

  it("keeps quantities and the cart within the server's limits", () => {
    expect(cartItems([line(1, 1, 0)])[0].quantity).toBe(1);
    expect(cartItems([line(1, 1, 2.7)])[0].quantity).toBe(2);
    expect(cartItems([line(1, 1, 99_999), line(1, 1, 99_999)])[0].quantity).toBe(100_000);
    const many = Array.from({ length: 300 }, (_, i) => line(1000 + i, 1));
    expect(cartItems(many)).toHaveLength(250);
  });

  it("builds the checkout request body", () => {
    expect(buildRecommendationRequest([line(101, 11, 2)], "checkout", 4, "tok-1")).toEqual({
      cart: [{ product_id: "11", variant_id: "101", quantity: 2 }],
      placement: "checkout",
      k: 4,
      session_id: "tok-1",
    });
  });

  it("builds the Thank you request body and leaves out an unusable session id", () => {
    const body = buildRecommendationRequest([line(101, 11)], "thank_you", 20, "  ");
    expect(body).toEqual({
      cart: [{ product_id: "11", variant_id: "101", quantity: 1 }],
      placement: "thank_you",
      k: 8,
    });
    expect("session_id" in body).toBe(false);
    expect(buildRecommendationRequest([], "checkout", 3, "x".repeat(129))).toEqual({ cart: [], placement: "checkout", k: 3 });
  });

  it("clamps the number of items to 1–8 with 3 by default", () => {
    expect(clampK(undefined)).toBe(3);
    expect(clampK("")).toBe(3);
    expect(clampK("five")).toBe(3);
    expect(clampK(Number.NaN)).toBe(3);
    expect(clampK(0)).toBe(1);
    expect(clampK(-4)).toBe(1);
    expect(clampK(12)).toBe(8);
    expect(clampK("6")).toBe(6);
    expect(clampK(2.4)).toBe(2);
  });
});

describe("settings", () => {
  it("accepts https app URLs and trims them to a base", () => {
    expect(normalizeAppUrl("https://cartwise.example.com/")).toBe("https://cartwise.example.com");
    expect(normalizeAppUrl(" https://api.example.com/cartwise/?x=1#y ")).toBe("https://api.example.com/cartwise");
    expect(normalizeAppUrl("http://localhost:8000")).toBe("http://localhost:8000");
  });

  it("refuses plain http, credentials and non-URLs, and takes the first usable candidate", () => {
    expect(normalizeAppUrl("http://cartwise.example.com")).toBeNull();
    expect(normalizeAppUrl("https://user:pw@cartwise.example.com")).toBeNull();
    expect(normalizeAppUrl("cartwise.example.com")).toBeNull();
    expect(normalizeAppUrl("javascript:alert(1)")).toBeNull();
    expect(normalizeAppUrl(undefined, "", "https://fallback.example.com")).toBe("https://fallback.example.com");
    expect(normalizeAppUrl()).toBeNull();
  });

  it("reads the merchant's settings with defaults", () => {
    expect(readSettings(undefined)).toEqual({ heading: "You may also like", k: 3, appUrl: null });
    expect(readSettings({}, "https://built.example.com", "Vous aimerez aussi")).toEqual({
      heading: "Vous aimerez aussi",
      k: 3,
      appUrl: "https://built.example.com",
    });
    expect(
      readSettings({ heading: "  Complete the look ", item_count: 11, app_url: "https://merchant.example.com/" }, "https://built.example.com"),
    ).toEqual({ heading: "Complete the look", k: 8, appUrl: "https://merchant.example.com" });
  });
});

describe("answer parsing", () => {
  it("keeps the contract's fields and drops the rest", () => {
    expect(parseRecommendations(ANSWER)).toEqual({
      items: [
        {
          product_id: "501",
          variant_id: "9001",
          title: "Wool socks",
          price: 12.5,
          currency: null,
          image_url: "https://cdn.shopify.com/socks.jpg",
          reason: "Often bought with Trail boots",
        },
        {
          product_id: "502",
          variant_id: "9002",
          title: "Boot wax",
          price: null,
          currency: null,
          image_url: null,
          reason: "Popular right now",
        },
      ],
      source: "model",
      model_version: 7,
      request_id: "req-123",
    });
  });

  it("gives null for answers that are not a RecommendationResponse", () => {
    for (const bad of [null, "items", [], {}, { items: {} }, { ...ANSWER, request_id: 5 }, { ...ANSWER, request_id: "" }, { ...ANSWER, source: null }, { ...ANSWER, model_version: "7" }]) {
      expect(parseRecommendations(bad)).toBeNull();
    }
  });

  it("drops malformed items instead of trusting them", () => {
    const parsed = parseRecommendations({
      ...ANSWER,
      items: [
        { ...ANSWER.items[0], title: "" },
        { ...ANSWER.items[0], product_id: 501 },
        { ...ANSWER.items[0], reason: undefined },
        { ...ANSWER.items[0], price: "12.50" },
        { ...ANSWER.items[0], price: -1 },
        { ...ANSWER.items[0], variant_id: 9001 },
        { ...ANSWER.items[0], image_url: 3 },
        "not an item",
        ANSWER.items[1],
      ],
    });
    expect(parsed?.items.map((item) => item.product_id)).toEqual(["502"]);
  });

  it("keeps only https images", () => {
    const parsed = parseRecommendations({ ...ANSWER, items: [{ ...ANSWER.items[0], image_url: "http://cdn.example.com/a.jpg" }] });
    expect(parsed?.items[0].image_url).toBeNull();
  });

  it("selects at most k offers with a variant, not in the cart, one per product", () => {
    const recs: Recommendations = {
      items: [offer("1", "10"), offer("2", null), offer("3", "30"), offer("1", "11"), offer("4", "40"), offer("5", "50")],
      source: "model",
      model_version: 1,
      request_id: "r",
    };
    expect(selectOffers(recs, 2, [line(30, 3)]).map((o) => o.product_id)).toEqual(["1", "4"]);
    expect(selectOffers(recs, 8).map((o) => o.product_id)).toEqual(["1", "3", "4", "5"]);
    expect(selectOffers({ ...recs, items: [] }, 3)).toEqual([]);
  });
});

describe("fetchRecommendations", () => {
  it("posts the request with the session token and returns the checked answer", async () => {
    const fetch = vi.fn<FetchLike>(async () => jsonResponse(ANSWER));
    const answer = await fetchRecommendations({ appUrl: "https://cartwise.example.com", token: "jwt.token", request: REQUEST, fetch });
    expect(answer?.request_id).toBe("req-123");
    expect(answer?.items).toHaveLength(2);
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("https://cartwise.example.com/v1/recommendations");
    expect(init?.method).toBe("POST");
    expect(init?.headers).toMatchObject({ Authorization: "Bearer jwt.token", "Content-Type": "application/json" });
    expect(JSON.parse(String(init?.body))).toEqual(REQUEST);
    expect(init?.signal).toBeInstanceOf(AbortSignal);
  });

  it("aborts and gives null after 600 ms", async () => {
    vi.useFakeTimers();
    let signal: AbortSignal | undefined;
    const fetch: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => {
        signal = init?.signal ?? undefined;
        signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    let settled = false;
    const pending = fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch }).then((value) => {
      settled = true;
      return value;
    });
    await vi.advanceTimersByTimeAsync(599);
    expect(settled).toBe(false);
    expect(signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await pending).toBeNull();
    expect(signal?.aborted).toBe(true);
  });

  it("never waits longer than 600 ms, whatever it is asked, even for a fetch that ignores the abort", async () => {
    vi.useFakeTimers();
    const fetch: FetchLike = () => new Promise(() => {});
    const pending = fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch, timeoutMs: 5000 });
    await vi.advanceTimersByTimeAsync(600);
    expect(await pending).toBeNull();
  });

  it("gives null when the body arrives after the deadline", async () => {
    vi.useFakeTimers();
    const fetch: FetchLike = async () =>
      ({
        ok: true,
        status: 200,
        json: () => new Promise((resolve) => setTimeout(() => resolve(ANSWER), 1000)),
      }) as unknown as Response;
    const pending = fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch, timeoutMs: 300 });
    await vi.advanceTimersByTimeAsync(300);
    expect(await pending).toBeNull();
  });

  it.each([400, 401, 404, 422, 429, 500, 503])("gives null on HTTP %i, whatever the body", async (status) => {
    const errorBody: FetchLike = async () => jsonResponse({ error: { code: "x", message: "y" } }, status);
    const answerBody: FetchLike = async () => jsonResponse(ANSWER, status);
    expect(await fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch: errorBody })).toBeNull();
    expect(await fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch: answerBody })).toBeNull();
  });

  it("gives null on a network or CORS failure", async () => {
    const fetch: FetchLike = async () => {
      throw new TypeError("Failed to fetch");
    };
    expect(await fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch })).toBeNull();
  });

  it("gives null on a body that is not JSON or not the contract", async () => {
    const notJson: FetchLike = async () => new Response("<html>oops</html>", { status: 200 });
    const wrongShape: FetchLike = async () => jsonResponse({ recommendations: [] });
    expect(await fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch: notJson })).toBeNull();
    expect(await fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch: wrongShape })).toBeNull();
  });

  it("returns an answer with no items as such (the list then renders nothing)", async () => {
    const fetch: FetchLike = async () => jsonResponse({ ...ANSWER, items: [] });
    const answer = await fetchRecommendations({ appUrl: "https://c.example.com", token: "t", request: REQUEST, fetch });
    expect(answer?.items).toEqual([]);
    expect(selectOffers(answer!, 3)).toEqual([]);
  });
});

describe("events", () => {
  const context = { sessionId: "checkout-token", requestId: "req-123", placement: "checkout" as const };

  it.each(["impression", "click", "add_to_cart"] as const)("builds %s events with exactly the server's fields", (kind) => {
    let n = 0;
    const batch = buildEvents(kind, [offer("501", "9001"), offer("502", "9002")], { ...context, newId: () => `id-${++n}` });
    expect(batch).toEqual({
      events: [
        { kind, product_id: "501", session_id: "checkout-token", request_id: "req-123", placement: "checkout", event_id: "id-1" },
        { kind, product_id: "502", session_id: "checkout-token", request_id: "req-123", placement: "checkout", event_id: "id-2" },
      ],
    });
  });

  it("builds nothing without offers, a session or a request id", () => {
    expect(buildEvents("impression", [], context)).toBeNull();
    expect(buildEvents("impression", [offer("1", "1")], { ...context, sessionId: "" })).toBeNull();
    expect(buildEvents("impression", [offer("1", "1")], { ...context, requestId: "" })).toBeNull();
  });

  it("gives each event its own id", () => {
    const batch = buildEvents("impression", [offer("1", "1"), offer("2", "2"), offer("3", "3")], context);
    const ids = batch!.events.map((event) => event.event_id);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });

  it("makes 32-hex ids without crypto.randomUUID too", () => {
    vi.stubGlobal("crypto", undefined);
    try {
      expect(newEventId(() => 0.5)).toBe("8".repeat(32));
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("posts the batch to /v1/events with a fresh session token", async () => {
    const fetch = vi.fn<FetchLike>(async () => new Response(null, { status: 202 }));
    const getToken = vi.fn(async () => "fresh.jwt");
    const batch = buildEvents("click", [offer("501", "9001")], { ...context, newId: () => "e1" });
    await sendEvents({ appUrl: "https://cartwise.example.com", getToken, batch, fetch });
    expect(getToken).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("https://cartwise.example.com/v1/events");
    expect(init?.method).toBe("POST");
    expect(init?.headers).toMatchObject({ Authorization: "Bearer fresh.jwt", "Content-Type": "application/json" });
    expect(JSON.parse(String(init?.body))).toEqual(batch);
  });

  it("ignores every failure, and sends nothing for an empty batch", async () => {
    const failing: FetchLike = async () => {
      throw new TypeError("Failed to fetch");
    };
    const batch = buildEvents("impression", [offer("1", "1")], context);
    await expect(sendEvents({ appUrl: "https://c.example.com", getToken: async () => "t", batch, fetch: failing })).resolves.toBeUndefined();
    await expect(
      sendEvents({ appUrl: "https://c.example.com", getToken: () => Promise.reject(new Error("no token")), batch, fetch: failing }),
    ).resolves.toBeUndefined();
    const fetch = vi.fn<FetchLike>();
    await sendEvents({ appUrl: "https://c.example.com", getToken: async () => "t", batch: null, fetch });
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe("cart change and links", () => {
  it("adds one of the offer's variant", () => {
    expect(addToCartChange({ variant_id: "9001" })).toEqual({
      type: "addCartLine",
      merchandiseId: "gid://shopify/ProductVariant/9001",
      quantity: 1,
    });
    expect(addToCartChange({ variant_id: "gid://shopify/ProductVariant/9001" })?.merchandiseId).toBe(
      "gid://shopify/ProductVariant/9001",
    );
    expect(addToCartChange({ variant_id: null })).toBeNull();
    expect(addToCartChange({ variant_id: "sku-1" })).toBeNull();
  });

  it("links the Thank you page's offers to a new checkout", () => {
    expect(cartPermalink("https://shop.example.com/", { variant_id: "9001" })).toBe("https://shop.example.com/cart/9001:1");
    expect(cartPermalink(undefined, { variant_id: "9001" })).toBeNull();
    expect(cartPermalink("https://shop.example.com", { variant_id: null })).toBeNull();
  });

  it("shows a price unless its named currency differs from the buyer's", () => {
    expect(displayPrice({ price: 12.5, currency: null }, "EUR")).toBe(12.5);
    expect(displayPrice({ price: 12.5, currency: "eur" }, "EUR")).toBe(12.5);
    expect(displayPrice({ price: 12.5, currency: "USD" }, "EUR")).toBeNull();
    expect(displayPrice({ price: null, currency: null }, "EUR")).toBeNull();
  });
});
