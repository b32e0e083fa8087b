/**
 * Everything the extension says to the cartwise server, as pure functions: the request built
 * from the cart lines, the call with its time limit, the answer checked field by field, the
 * events, and the cart change behind the "Add" button.
 *
 * No Shopify global and no Preact here, so the unit tests exercise this module as it ships.
 * The contract is the server's `/v1` schema (`cartwise/schemas.py`): `RecommendationRequest`,
 * `RecommendationResponse`, `TrackedEvent`, `EventBatch`.
 */

export type Placement = "checkout" | "thank_you";
export type EventKind = "impression" | "click" | "add_to_cart";

/** The part of a checkout `CartLine` that the request needs. */
export interface CartLineLike {
  merchandise: { id: string; product: { id: string } };
  quantity: number;
}

export interface CartItem {
  product_id: string;
  variant_id: string;
  quantity: number;
}

export interface RecommendationRequest {
  cart: CartItem[];
  placement: Placement;
  k: number;
  session_id?: string;
}

/** One recommended product as the extension uses it (a checked `RecommendationItem`). */
export interface Offer {
  product_id: string;
  variant_id: string | null;
  title: string;
  price: number | null;
  /** ISO 4217 code of `price` when the server names it; the server's prices are in the shop's currency. */
  currency: string | null;
  image_url: string | null;
  reason: string;
}

export interface Recommendations {
  items: Offer[];
  source: string;
  model_version: number | null;
  request_id: string;
}

export interface TrackedEvent {
  kind: EventKind;
  product_id: string;
  session_id: string;
  request_id: string;
  placement: Placement;
  event_id: string;
}

export interface EventBatch {
  events: TrackedEvent[];
}

export interface AddCartLineChange {
  type: "addCartLine";
  merchandiseId: string;
  quantity: number;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The longest the extension waits for recommendations before it gives up and shows nothing. */
export const DEFAULT_TIMEOUT_MS = 600;
export const MAX_TIMEOUT_MS = 600;
export const DEFAULT_K = 3;
export const MIN_K = 1;
export const MAX_K = 8;
export const DEFAULT_HEADING = "You may also like";

/** Server limits (`cartwise/schemas.py`). */
const MAX_CART_ITEMS = 250;
const MAX_ID_LENGTH = 128;
const MAX_QUANTITY = 100_000;
const MAX_REQUEST_ID_LENGTH = 64;

const VARIANT_GID_PREFIX = "gid://shopify/ProductVariant/";
const GID = /^gid:\/\/shopify\/[A-Za-z]+\/(\d+)(?:\?.*)?$/;
const NUMERIC = /^\d+$/;

/**
 * The numeric tail of a Shopify GID (`gid://shopify/Product/123` → `"123"`); a bare numeric id
 * is returned as is. cartwise keys products and variants by these numbers, as Shopify's
 * webhooks do. Anything else gives null.
 */
export function numericId(id: unknown): string | null {
  if (typeof id === "number" && Number.isSafeInteger(id) && id > 0) return String(id);
  if (typeof id !== "string") return null;
  const text = id.trim();
  if (NUMERIC.test(text)) return text;
  const match = GID.exec(text);
  return match ? match[1] : null;
}

/** `gid://shopify/ProductVariant/<id>` for a numeric variant id (or a variant GID); null otherwise. */
export function variantGid(variantId: unknown): string | null {
  if (typeof variantId === "string" && variantId.startsWith(VARIANT_GID_PREFIX)) {
    return numericId(variantId) ? variantId.split("?")[0] : null;
  }
  const id = numericId(variantId);
  return id ? VARIANT_GID_PREFIX + id : null;
}

/**
 * The request's cart from checkout's cart lines: numeric product and variant ids, lines of the
 * same variant merged, lines whose ids are not Shopify GIDs skipped, at most 250 items.
 */
export function cartItems(lines: readonly CartLineLike[]): CartItem[] {
  const byVariant = new Map<string, CartItem>();
  for (const line of lines) {
    const productId = numericId(line?.merchandise?.product?.id);
    const variantId = numericId(line?.merchandise?.id);
    if (!productId || !variantId) continue;
    const quantity = Number.isFinite(line.quantity) ? Math.max(1, Math.floor(line.quantity)) : 1;
    const known = byVariant.get(variantId);
    if (known) {
      known.quantity = Math.min(MAX_QUANTITY, known.quantity + quantity);
    } else if (byVariant.size < MAX_CART_ITEMS) {
      byVariant.set(variantId, {
        product_id: productId,
        variant_id: variantId,
        quantity: Math.min(MAX_QUANTITY, quantity),
      });
    }
  }
  return [...byVariant.values()];
}

/** The number of offers to show: the merchant's setting clamped to 1–8, 3 when unset or unreadable. */
export function clampK(value: unknown): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) return DEFAULT_K;
  return Math.min(MAX_K, Math.max(MIN_K, Math.round(n)));
}

export function buildRecommendationRequest(
  lines: readonly CartLineLike[],
  placement: Placement,
  k: number,
  sessionId?: string | null,
): RecommendationRequest {
  const body: RecommendationRequest = { cart: cartItems(lines), placement, k: clampK(k) };
  const session = cleanSessionId(sessionId);
  if (session) body.session_id = session;
  return body;
}

/** A session id the server accepts (1–128 characters), or null. */
export function cleanSessionId(sessionId: unknown): string | null {
  if (typeof sessionId !== "string") return null;
  const text = sessionId.trim();
  return text.length > 0 && text.length <= MAX_ID_LENGTH ? text : null;
}

/**
 * The cartwise server's base URL, from the merchant's setting or the build-time default:
 * `https://` only (a checkout never calls plain http), no query or fragment, no trailing slash.
 * `http://localhost` is accepted for local development. Anything else gives null, and the
 * extension then renders nothing.
 */
export function normalizeAppUrl(...candidates: unknown[]): string | null {
  for (const candidate of candidates) {
    if (typeof candidate !== "string" || candidate.trim() === "") continue;
    let url: URL;
    try {
      url = new URL(candidate.trim());
    } catch {
      continue;
    }
    const local = url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "127.0.0.1");
    if (url.protocol !== "https:" && !local) continue;
    if (url.username || url.password) continue;
    return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
  }
  return null;
}

export interface ExtensionSettings {
  heading: string;
  k: number;
  appUrl: string | null;
}

/**
 * The merchant's settings (`[settings]` in `shopify.extension.toml`). Every setting is optional
 * in the checkout editor, so each has a default; the app URL falls back to the one the
 * extension was built with.
 */
export function readSettings(
  raw: Record<string, string | number | boolean | undefined> | null | undefined,
  defaultAppUrl?: string | null,
  defaultHeading: string = DEFAULT_HEADING,
): ExtensionSettings {
  const values = raw ?? {};
  const heading = typeof values.heading === "string" && values.heading.trim() ? values.heading.trim() : defaultHeading;
  return {
    heading,
    k: clampK(values.item_count),
    appUrl: normalizeAppUrl(values.app_url, defaultAppUrl),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | null | undefined {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : undefined;
}

function offerFrom(value: unknown): Offer | null {
  if (!isRecord(value)) return null;
  const { product_id, title, reason } = value;
  if (typeof product_id !== "string" || product_id === "") return null;
  if (typeof title !== "string" || title.trim() === "") return null;
  if (typeof reason !== "string") return null;
  const variant = optionalString(value.variant_id);
  const image = optionalString(value.image_url);
  const currency = optionalString(value.currency);
  if (variant === undefined || image === undefined || currency === undefined) return null;
  const price = value.price;
  if (price !== null && price !== undefined && (typeof price !== "number" || !Number.isFinite(price) || price < 0)) {
    return null;
  }
  return {
    product_id,
    variant_id: variant,
    title: title.trim(),
    price: typeof price === "number" ? price : null,
    currency,
    image_url: image && /^https:\/\//.test(image) ? image : null,
    reason: reason.trim(),
  };
}

/**
 * The server's answer, checked: null unless it is a `RecommendationResponse` (an `items` array,
 * a `request_id`, a `source`). Items that don't fit the contract are dropped, not trusted.
 */
export function parseRecommendations(body: unknown): Recommendations | null {
  if (!isRecord(body) || !Array.isArray(body.items)) return null;
  const { request_id, source, model_version } = body;
  if (typeof request_id !== "string" || request_id === "") return null;
  if (typeof source !== "string") return null;
  if (model_version !== null && model_version !== undefined && typeof model_version !== "number") return null;
  const items: Offer[] = [];
  for (const raw of body.items) {
    const offer = offerFrom(raw);
    if (offer) items.push(offer);
  }
  return {
    items,
    source,
    model_version: typeof model_version === "number" ? model_version : null,
    request_id: request_id.slice(0, MAX_REQUEST_ID_LENGTH),
  };
}

/**
 * The offers worth showing: at most `k`, each with a variant that can be added (checkout)
 * or linked to (Thank you page), none already in the cart, no product twice.
 */
export function selectOffers(recs: Recommendations, k: number, lines: readonly CartLineLike[] = []): Offer[] {
  const inCart = new Set<string>();
  for (const line of lines) {
    const variant = numericId(line?.merchandise?.id);
    if (variant) inCart.add(variant);
  }
  const seen = new Set<string>();
  const offers: Offer[] = [];
  for (const item of recs.items) {
    if (offers.length >= clampK(k)) break;
    const variant = numericId(item.variant_id);
    if (!variant || inCart.has(variant) || seen.has(item.product_id)) continue;
    seen.add(item.product_id);
    offers.push(item);
  }
  return offers;
}

export interface FetchRecommendationsOptions {
  appUrl: string;
  token: string;
  request: RecommendationRequest;
  fetch: FetchLike;
  timeoutMs?: number;
}

/**
 * `POST {appUrl}/v1/recommendations` with the session token, given at most `timeoutMs`
 * (600 ms by default and at most) for the whole exchange, body included. Resolves to the
 * checked answer, or null on a timeout, a network or CORS error, a non-2xx status, or a body
 * that is not a `RecommendationResponse`. Never rejects.
 */
export async function fetchRecommendations(options: FetchRecommendationsOptions): Promise<Recommendations | null> {
  const timeoutMs = Math.min(MAX_TIMEOUT_MS, Math.max(1, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(null);
    }, timeoutMs);
  });
  const exchange = (async (): Promise<Recommendations | null> => {
    try {
      const response = await options.fetch(`${options.appUrl}/v1/recommendations`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${options.token}`,
          "Content-Type": "application/json",
          Accept: "application/json",
        },
        body: JSON.stringify(options.request),
        signal: controller.signal,
      });
      if (!response.ok) return null;
      return parseRecommendations(await response.json());
    } catch {
      return null;
    }
  })();
  try {
    // The race also covers a fetch that ignores the abort signal.
    return await Promise.race([exchange, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh event id: 32 hex characters (the server keeps at most 64). */
export function newEventId(random: () => number = Math.random): string {
  const cryptoApi = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof cryptoApi?.randomUUID === "function") {
    try {
      return cryptoApi.randomUUID().replace(/-/g, "");
    } catch {
      // fall through to the non-cryptographic id; it only has to be unique enough to dedupe
    }
  }
  let id = "";
  for (let i = 0; i < 32; i++) id += Math.floor(random() * 16).toString(16);
  return id;
}

export interface EventContext {
  sessionId: string;
  requestId: string;
  placement: Placement;
  newId?: () => string;
}

/** `{"events": [...]}`: one event of `kind` per offer, or null when there is nothing valid to send. */
export function buildEvents(kind: EventKind, offers: readonly Offer[], context: EventContext): EventBatch | null {
  const session = cleanSessionId(context.sessionId);
  if (!session || !context.requestId) return null;
  const makeId = context.newId ?? (() => newEventId());
  const events = offers
    .filter((offer) => offer.product_id.length <= MAX_ID_LENGTH)
    .map((offer) => ({
      kind,
      product_id: offer.product_id,
      session_id: session,
      request_id: context.requestId.slice(0, MAX_REQUEST_ID_LENGTH),
      placement: context.placement,
      event_id: makeId(),
    }));
  return events.length > 0 ? { events } : null;
}

export interface SendEventsOptions {
  appUrl: string;
  /** Called at send time: the session token is fetched fresh for every request. */
  getToken: () => Promise<string>;
  batch: EventBatch | null;
  fetch: FetchLike;
}

/**
 * `POST {appUrl}/v1/events`, fire and forget: resolves (never rejects) whatever happens, and
 * nothing waits on it.
 */
export async function sendEvents(options: SendEventsOptions): Promise<void> {
  if (!options.batch) return;
  try {
    const token = await options.getToken();
    await options.fetch(`${options.appUrl}/v1/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify(options.batch),
    });
  } catch {
    // Events are best effort: a lost impression must never disturb checkout.
  }
}

/** The `applyCartLinesChange` argument that adds one of the offer's variant, or null without a variant. */
export function addToCartChange(offer: Pick<Offer, "variant_id">): AddCartLineChange | null {
  const merchandiseId = variantGid(offer.variant_id);
  return merchandiseId ? { type: "addCartLine", merchandiseId, quantity: 1 } : null;
}

/**
 * A Shopify cart permalink (`{storefront}/cart/{variant_id}:1`) for the Thank you page, where the
 * order is placed and the cart can no longer change: it starts a new checkout with the offer.
 */
export function cartPermalink(storefrontUrl: string | null | undefined, offer: Pick<Offer, "variant_id">): string | null {
  const variant = numericId(offer.variant_id);
  const base = normalizeAppUrl(storefrontUrl);
  return variant && base ? `${base}/cart/${variant}:1` : null;
}

/**
 * The price to show, or null to show none: the server's prices are in the shop's currency, so a
 * price whose currency the server names and that differs from the buyer's is not shown.
 */
export function displayPrice(offer: Pick<Offer, "price" | "currency">, buyerCurrency: string | null | undefined): number | null {
  if (offer.price === null) return null;
  if (offer.currency && buyerCurrency && offer.currency.toUpperCase() !== buyerCurrency.toUpperCase()) return null;
  return offer.price;
}
