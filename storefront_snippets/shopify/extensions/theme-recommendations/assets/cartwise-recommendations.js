// cartwise recommendations block: asks the app proxy what goes with the cart (or the product
// on screen), shows the answer as a row of cards inside the space the block already reserves,
// adds to the cart through the theme's Ajax cart, and reports impressions, clicks and
// add-to-carts. It never blocks the page, never logs, and never shows an error: on a failure,
// a timeout or an empty answer it shows the block's curated products, or nothing.
// No framework; nothing from the network is inserted as HTML.
"use strict";

(() => {
  const SELECTOR = "[data-cartwise-recommendations]";
  const PLACEMENTS = ["cart", "checkout", "product", "thank_you", "home", "other"];
  const SESSION_KEY = "cartwise:session";

  function randomId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The cart token (Shopify's `cart` cookie, without its `?key=` part) is what the order will
  // carry as its cart_token: used as the session id, it ties impressions and clicks to the
  // order server-side. Before a cart exists, one id per browser tab session stands in;
  // storage can be switched off (private modes, embedded webviews), then the id lives per page.
  function cartToken() {
    const match = document.cookie.match(/(?:^|;\s*)cart=([^;]+)/);
    if (!match) return null;
    let value;
    try {
      value = decodeURIComponent(match[1]);
    } catch {
      return null;
    }
    value = value.split("?")[0].trim();
    return value && value.length <= 128 && /^[\x21-\x7e]+$/.test(value) ? value : null;
  }

  function sessionId() {
    const token = cartToken();
    if (token) return token;
    try {
      let id = sessionStorage.getItem(SESSION_KEY);
      if (!id) {
        id = randomId();
        sessionStorage.setItem(SESSION_KEY, id);
      }
      return id;
    } catch {
      return randomId();
    }
  }

  function mark(name, detail) {
    try {
      performance.mark(name, { detail });
    } catch {
      // marks are a measurement aid; an old browser without `detail` just goes without
    }
  }

  function int(value, low, high, fallback) {
    const n = Number.parseInt(value, 10);
    return Number.isFinite(n) ? Math.min(high, Math.max(low, n)) : fallback;
  }

  // `routes.root_url` is "/" on the primary locale but "/fr" (no trailing slash) on others.
  function withSlash(path) {
    return path.endsWith("/") ? path : `${path}/`;
  }

  function settings(root) {
    const d = root.dataset;
    const ids = [d.product, ...(d.cart || "").split(",")].map((s) => (s || "").trim());
    const placement = PLACEMENTS.includes(d.placement) ? d.placement : "other";
    return {
      root: withSlash(d.root || "/"),
      proxy: withSlash((d.proxy || "apps/cartwise").replace(/^\/+/, "")),
      ids: [...new Set(ids.filter(Boolean))],
      placement,
      k: int(d.k, 1, 8, 4),
      budget: int(d.budget, 50, 5000, 300),
      fallback: d.fallback !== "false",
      currency: d.currency || "",
      locale: d.locale || document.documentElement.lang || undefined,
      labels: {
        add: d.labelAdd || "Add",
        adding: d.labelAdding || "Adding…",
        added: d.labelAdded || "Added",
        failed: d.labelFailed || "Try again",
      },
    };
  }

  function text(value, max) {
    return typeof value === "string" && value.trim() ? value.trim().slice(0, max) : null;
  }

  // Only http(s) and same-site images; anything else (javascript:, data:) is dropped.
  function imageUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      const url = new URL(value, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  // The answer is checked field by field: a product that does not look right is left out.
  function clean(items, k) {
    if (!Array.isArray(items)) return [];
    const seen = new Set();
    const out = [];
    for (const raw of items) {
      if (!raw || typeof raw !== "object") continue;
      const id = raw.product_id == null ? null : String(raw.product_id);
      const title = text(raw.title, 200);
      if (!id || !title || seen.has(id)) continue;
      seen.add(id);
      out.push({
        product_id: id,
        variant_id: raw.variant_id == null ? null : String(raw.variant_id),
        title,
        price: typeof raw.price === "number" && Number.isFinite(raw.price) ? raw.price : null,
        image_url: imageUrl(raw.image_url),
        reason: text(raw.reason, 200) || "",
      });
      if (out.length >= k) break;
    }
    return out;
  }

  function curated(root, k) {
    const node = root.querySelector("script[data-cartwise-defaults]");
    if (!node) return [];
    try {
      return clean(JSON.parse(node.textContent || "[]"), k);
    } catch {
      return [];
    }
  }

  // Resolves to the answer, or to null on any failure; never waits longer than the budget.
  async function ask(cfg, session) {
    const query = new URLSearchParams({
      cart: cfg.ids.join(","),
      k: String(cfg.k),
      placement: cfg.placement,
      session_id: session,
    });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), cfg.budget);
    mark("cartwise:request");
    try {
      const response = await fetch(`${cfg.root}${cfg.proxy}recommendations?${query}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) return null;
      const body = await response.json();
      return body && typeof body === "object" ? body : null;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  function formatter(cfg) {
    try {
      if (cfg.currency) {
        const money = new Intl.NumberFormat(cfg.locale, {
          style: "currency",
          currency: cfg.currency,
        });
        return (n) => money.format(n);
      }
    } catch {
      // an unknown currency code: plain numbers below
    }
    return (n) => n.toFixed(2);
  }

  function el(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content != null) node.textContent = content;
    return node;
  }

  // Events go out fire-and-forget with keepalive, so a click that navigates away still reports.
  function reporter(cfg, session, answer) {
    const url = `${cfg.root}${cfg.proxy}events`;
    return (kind, items) => {
      if (!answer.reachable || !items.length) return;
      const events = items.map((item) => ({
        kind,
        product_id: item.product_id,
        session_id: session,
        request_id: answer.requestId,
        placement: cfg.placement,
        event_id: randomId(),
      }));
      fetch(url, {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ events }),
      }).catch(() => {});
    };
  }

  function variantValue(id) {
    return /^\d{1,15}$/.test(id) ? Number(id) : id;
  }

  async function addToCart(cfg, item, button, report) {
    const labels = cfg.labels;
    report("click", [item]);
    button.disabled = true;
    button.textContent = labels.adding;
    try {
      const response = await fetch(`${cfg.root}cart/add.js`, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-Requested-With": "XMLHttpRequest",
        },
        body: JSON.stringify({ items: [{ id: variantValue(item.variant_id), quantity: 1 }] }),
      });
      if (!response.ok) throw new Error(String(response.status));
      const added = await response.json().catch(() => null);
      button.textContent = labels.added;
      report("add_to_cart", [item]);
      // Themes refresh their cart drawer or counter on this event.
      button.dispatchEvent(
        new CustomEvent("cartwise:added", { bubbles: true, detail: { item, cart: added } }),
      );
    } catch {
      button.textContent = labels.failed;
      button.disabled = false;
    }
  }

  function card(cfg, item, money, report) {
    const li = el("li", "cw-card");
    li.dataset.productId = item.product_id;
    if (item.image_url) {
      const img = el("img", "cw-img");
      img.setAttribute("src", item.image_url);
      img.setAttribute("alt", "");
      img.setAttribute("width", "320");
      img.setAttribute("height", "320");
      img.setAttribute("loading", "lazy");
      img.setAttribute("decoding", "async");
      li.append(img);
    } else {
      li.append(el("span", "cw-img cw-img--none"));
    }
    li.append(el("p", "cw-title", item.title));
    li.append(el("p", "cw-price", item.price == null ? "" : money(item.price)));
    li.append(el("p", "cw-reason", item.reason));
    // Without a variant there is nothing the Ajax cart can add: the card goes without a button.
    if (item.variant_id) {
      const button = el("button", "cw-add", cfg.labels.add);
      button.type = "button";
      button.setAttribute("aria-label", `${cfg.labels.add}: ${item.title}`);
      button.addEventListener("click", () => addToCart(cfg, item, button, report));
      li.append(button);
    }
    return li;
  }

  async function start(root) {
    if (root.dataset.state) return;
    root.dataset.state = "loading";
    const cfg = settings(root);
    const session = sessionId();
    const pending = ask(cfg, session);
    // Building a currency formatter loads locale data (tens of ms on a first page view): done
    // while the request is on the wire, not after the answer has arrived.
    const money = formatter(cfg);
    const body = await pending;
    const answer = {
      reachable: body !== null,
      requestId: body && typeof body.request_id === "string" ? body.request_id : null,
    };
    let items = body ? clean(body.items, cfg.k) : [];
    let source = body && typeof body.source === "string" ? body.source : "none";
    // "control": this shopper is in an experiment's control arm, which shows nothing at all
    if (!items.length && cfg.fallback && source !== "control") {
      items = curated(root, cfg.k);
      source = "curated";
    }
    const track = root.querySelector(".cw-track");
    if (!items.length || !track) {
      root.dataset.state = "empty";
      mark("cartwise:empty", { source });
      return;
    }
    const report = reporter(cfg, session, answer);
    track.replaceChildren(...items.map((item) => card(cfg, item, money, report)));
    root.dataset.state = "ready";
    root.dataset.source = source;
    mark("cartwise:rendered", { source, count: items.length });
    report("impression", items);
  }

  function startAll(scope) {
    for (const root of scope.querySelectorAll(SELECTOR)) {
      start(root).catch(() => {
        root.dataset.state = "empty";
      });
    }
  }

  startAll(document);
  // The theme editor re-renders a section without reloading the page.
  document.addEventListener("shopify:section:load", (event) => startAll(event.target));
})();
