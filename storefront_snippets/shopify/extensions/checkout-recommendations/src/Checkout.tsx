/**
 * `purchase.checkout.block.render`: recommendations the buyer can add to the order.
 * Renders nothing when the checkout can't take new lines (draft orders, some configurations).
 */
import "@shopify/ui-extensions/preact";
import { render } from "preact";
import type { Api } from "@shopify/ui-extensions/purchase.checkout.block.render";

import { Offers } from "./render/Offers";
import { standardHost } from "./render/host";

export default async () => {
  const api = (globalThis as unknown as { shopify: Api }).shopify;
  const host = standardHost(api, "checkout", {
    addLine: (change) => api.applyCartLinesChange(change),
  });
  render(<CheckoutOffers api={api} host={host} />, document.body);
};

function CheckoutOffers({ api, host }: { api: Api; host: ReturnType<typeof standardHost> }) {
  if (!api.instructions.value?.lines?.canAddCartLine) return null;
  return <Offers host={host} />;
}
