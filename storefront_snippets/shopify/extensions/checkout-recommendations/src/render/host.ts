/**
 * Reads what the offer list needs from a target's `shopify` global. Kept apart from the
 * entries so both targets read their API the same way.
 */
import type { StandardApi } from "@shopify/ui-extensions/checkout";

import { newEventId, readSettings, type FetchLike, type Placement } from "../api";
import type { Host } from "./Offers";

declare const process: { env: Record<string, string | undefined> };

/**
 * The cartwise URL this bundle was built with: the Shopify CLI (and `npm run build`) replace
 * `process.env.CARTWISE_APP_URL` with the value of that environment variable at build time.
 * Without it, `process` doesn't exist in the checkout's worker and this gives undefined.
 */
export function builtInAppUrl(): string | undefined {
  try {
    return process.env.CARTWISE_APP_URL;
  } catch {
    return undefined;
  }
}

/** A per-render id for events when checkout has no token yet. */
const fallbackSession = newEventId();

type Keys = Parameters<Host["t"]>[0];

export function standardHost(
  api: StandardApi,
  placement: Placement,
  extra: Pick<Host, "addLine" | "storefrontUrl"> = {},
): Host {
  const translate = (key: string, title?: string): string => {
    try {
      const text = api.i18n.translate(key, title === undefined ? undefined : { title });
      return typeof text === "string" && text !== key ? text : fallbackText(key, title);
    } catch {
      return fallbackText(key, title);
    }
  };
  const currency = api.localization?.currency?.value?.isoCode ?? null;
  const defaultHeading = translate("heading");
  return {
    placement,
    settings: () => readSettings(api.settings.value, builtInAppUrl(), defaultHeading),
    lines: () => api.lines.value,
    getToken: () => api.sessionToken.get(),
    sessionId: api.checkoutToken?.value || fallbackSession,
    fetch: ((input, init) => fetch(input, init)) as FetchLike,
    formatPrice: (amount) => {
      try {
        return api.i18n.formatCurrency(amount);
      } catch {
        return currency ? `${amount.toFixed(2)} ${currency}` : amount.toFixed(2);
      }
    },
    buyerCurrency: currency,
    t: (key: Keys, title: string) => translate(key, title),
    ...extra,
  };
}

const FALLBACK: Record<string, string> = {
  heading: "You may also like",
  add: "Add",
  addLabel: "Add {{title}} to your order",
  buy: "Buy",
  buyLabel: "Buy {{title}}",
};

function fallbackText(key: string, title?: string): string {
  return (FALLBACK[key] ?? key).replace("{{title}}", title ?? "");
}
