/**
 * `purchase.thank-you.block.render`: recommendations after the order is placed. The order can
 * no longer change, so each offer links to a new checkout for it (a cart permalink).
 */
import "@shopify/ui-extensions/preact";
import { render } from "preact";
import type { Api } from "@shopify/ui-extensions/purchase.thank-you.block.render";

import { Offers } from "./render/Offers";
import { standardHost } from "./render/host";

export default async () => {
  const api = (globalThis as unknown as { shopify: Api }).shopify;
  const host = standardHost(api, "thank_you", { storefrontUrl: api.shop?.storefrontUrl ?? null });
  render(<Offers host={host} />, document.body);
};
