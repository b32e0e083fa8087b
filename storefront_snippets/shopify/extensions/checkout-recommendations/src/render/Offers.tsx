/**
 * The offer list, shared by the checkout and Thank you targets: loads once, then renders up to
 * N offers or nothing at all (no spinner, no error banner). All data logic lives in `../api`;
 * this file only wires it to Preact state and Polaris web components.
 */
import { useEffect, useRef, useState } from "preact/hooks";
// The JSX types of checkout's Polaris elements (s-section, s-button...) come with a target's types.
import type {} from "@shopify/ui-extensions/purchase.checkout.block.render";

import {
  addToCartChange,
  buildEvents,
  buildRecommendationRequest,
  cartPermalink,
  displayPrice,
  fetchRecommendations,
  selectOffers,
  sendEvents,
  type AddCartLineChange,
  type CartLineLike,
  type EventKind,
  type ExtensionSettings,
  type FetchLike,
  type Offer,
  type Placement,
  type Recommendations,
} from "../api";

/** What a target hands the offer list: read from the `shopify` global by the entry modules. */
export interface Host {
  placement: Placement;
  /** Reads the merchant's settings (a signal read: the checkout editor changes them live). */
  settings: () => ExtensionSettings;
  /** Reads the current cart lines (a signal read, so the list re-renders when the cart changes). */
  lines: () => readonly CartLineLike[];
  getToken: () => Promise<string>;
  sessionId: string;
  fetch: FetchLike;
  formatPrice: (amount: number) => string;
  /** Translates a key of `locales/*.json` into the buyer's language. */
  t: (key: "add" | "addLabel" | "buy" | "buyLabel", title: string) => string;
  buyerCurrency: string | null;
  /** Checkout: adds a line. Absent on the Thank you page, where the order is already placed. */
  addLine?: (change: AddCartLineChange) => Promise<{ type: string }>;
  /** Thank you page: the storefront, for cart permalinks. */
  storefrontUrl?: string | null;
}

export function Offers({ host }: { host: Host }) {
  const [recs, setRecs] = useState<Recommendations | null>(null);
  const [adding, setAdding] = useState<string | null>(null);
  const shown = useRef(new Set<string>());
  const settings = host.settings();
  const { appUrl, k } = settings;

  // One request per render of the target (the cart it was asked with is the query), and again
  // only if the app URL or the number of items changes (a merchant editing the block).
  useEffect(() => {
    if (!appUrl) return;
    let live = true;
    (async () => {
      let token: string;
      try {
        token = await host.getToken();
      } catch {
        return;
      }
      const request = buildRecommendationRequest(host.lines(), host.placement, k, host.sessionId);
      const answer = await fetchRecommendations({ appUrl, token, request, fetch: host.fetch });
      if (!live) return;
      shown.current = new Set();
      setRecs(answer);
    })();
    return () => {
      live = false;
    };
  }, [appUrl, k]);

  const offers = recs && appUrl ? selectOffers(recs, k, host.lines()) : [];

  const report = (kind: EventKind, items: readonly Offer[]) => {
    if (!appUrl || !recs || items.length === 0) return;
    const batch = buildEvents(kind, items, {
      sessionId: host.sessionId,
      requestId: recs.request_id,
      placement: host.placement,
    });
    void sendEvents({ appUrl, getToken: host.getToken, batch, fetch: host.fetch });
  };

  useEffect(() => {
    const fresh = offers.filter((offer) => !shown.current.has(offer.product_id));
    if (fresh.length === 0) return;
    for (const offer of fresh) shown.current.add(offer.product_id);
    report("impression", fresh);
  });

  if (offers.length === 0) return null;

  const add = async (offer: Offer) => {
    const change = addToCartChange(offer);
    if (!change || !host.addLine || adding) return;
    report("click", [offer]);
    setAdding(offer.product_id);
    try {
      const result = await host.addLine(change);
      if (result.type === "success") report("add_to_cart", [offer]);
    } catch {
      // The cart refused the line (accelerated checkout, a draft order...): nothing to show.
    } finally {
      setAdding(null);
    }
  };

  return (
    <s-section heading={settings.heading}>
      <s-stack gap="base">
        {offers.map((offer) => {
          const price = displayPrice(offer, host.buyerCurrency);
          const link = host.addLine ? null : cartPermalink(host.storefrontUrl, offer);
          return (
            <s-grid key={offer.product_id} gridTemplateColumns="auto 1fr auto" gap="base" alignItems="center">
              <s-product-thumbnail src={offer.image_url ?? undefined} alt={offer.title} />
              <s-stack gap="none">
                <s-text type="strong">{offer.title}</s-text>
                {price !== null && <s-text>{host.formatPrice(price)}</s-text>}
                {offer.reason && (
                  <s-text type="small" color="subdued">
                    {offer.reason}
                  </s-text>
                )}
              </s-stack>
              {host.addLine ? (
                <s-button
                  variant="secondary"
                  accessibilityLabel={host.t("addLabel", offer.title)}
                  loading={adding === offer.product_id}
                  disabled={adding !== null && adding !== offer.product_id}
                  onClick={() => void add(offer)}
                >
                  {host.t("add", offer.title)}
                </s-button>
              ) : link ? (
                <s-button
                  variant="secondary"
                  href={link}
                  target="_blank"
                  accessibilityLabel={host.t("buyLabel", offer.title)}
                  onClick={() => report("click", [offer])}
                >
                  {host.t("buy", offer.title)}
                </s-button>
              ) : null}
            </s-grid>
          );
        })}
      </s-stack>
    </s-section>
  );
}
