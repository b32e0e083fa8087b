// The demo storefront: browse and search the catalog, keep a cart in the page, and ask
// POST /v1/recommendations again on every cart change. No framework, no third-party code.
"use strict";

(() => {
  const TIMEOUT_MS = 5000;
  const SEARCH_DELAY_MS = 250;
  const PRODUCTS_LIMIT = 24;
  const RECOMMENDATIONS_K = 6;

  const $ = (id) => document.getElementById(id);
  const els = {
    search: $("search"),
    searchForm: $("search-form"),
    products: $("products"),
    catalogStatus: $("catalog-status"),
    cart: $("cart"),
    cartEmpty: $("cart-empty"),
    cartCount: $("cart-count"),
    customer: $("customer"),
    recs: $("recs"),
    recsStatus: $("recs-status"),
    recsMeta: $("recs-meta"),
  };

  const sessionId =
    typeof crypto !== "undefined" && crypto.randomUUID
      ? crypto.randomUUID()
      : `s-${Date.now().toString(36)}`;

  const state = {
    cart: [], // {product_id, variant_id, title, price, image_url, quantity}
    searchSeq: 0,
    recsSeq: 0,
  };

  class ApiError extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  async function fetchJson(url, init = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(url, {
        ...init,
        signal: controller.signal,
        headers: { Accept: "application/json", ...(init.headers || {}) },
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const error = body && body.error ? body.error : {};
        throw new ApiError(error.message || `HTTP ${response.status}`, error.code || "http_error");
      }
      return body;
    } catch (err) {
      if (err.name === "AbortError") {
        throw new ApiError("the server took too long to answer", "timeout");
      }
      if (err instanceof ApiError) throw err;
      throw new ApiError("the server cannot be reached", "network_error");
    } finally {
      clearTimeout(timer);
    }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function formatPrice(price) {
    return typeof price === "number" ? price.toFixed(2) : "";
  }

  function hue(text) {
    let h = 0;
    for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function thumbnail(product) {
    const thumb = el("span", "thumb");
    thumb.setAttribute("aria-hidden", "true");
    const initials = product.title
      .split(/\s+/)
      .filter((w) => /^[\p{L}\p{N}]/u.test(w))
      .slice(0, 2)
      .map((w) => w[0])
      .join("")
      .toUpperCase();
    thumb.textContent = initials || "?";
    thumb.style.setProperty("--hue", String(hue(product.product_id)));
    if (product.image_url) {
      const img = el("img");
      img.alt = "";
      img.loading = "lazy";
      img.addEventListener("load", () => thumb.classList.add("has-image"));
      img.addEventListener("error", () => img.remove());
      img.src = product.image_url;
      thumb.append(img);
    }
    return thumb;
  }

  function setStatus(node, message, kind) {
    node.textContent = message || "";
    node.dataset.kind = kind || "";
    node.hidden = !message;
  }

  // catalog -------------------------------------------------------------------------------

  async function loadProducts(query) {
    const seq = ++state.searchSeq;
    const params = new URLSearchParams({ limit: String(PRODUCTS_LIMIT) });
    if (query) params.set("q", query);
    els.products.classList.add("loading");
    try {
      const body = await fetchJson(`/v1/demo/products?${params}`);
      if (seq !== state.searchSeq) return;
      renderProducts(body.items, query);
    } catch (err) {
      if (seq !== state.searchSeq) return;
      els.products.replaceChildren();
      const message =
        err.code === "unknown_shop"
          ? "The demo catalog is not loaded yet: run `cartwise demo` to load the sample store."
          : `The catalog cannot be loaded: ${err.message}.`;
      setStatus(els.catalogStatus, message, "error");
    } finally {
      if (seq === state.searchSeq) els.products.classList.remove("loading");
    }
  }

  function renderProducts(items, query) {
    const cards = items.map((product) => {
      const card = el("li", "card");
      card.dataset.productId = product.product_id;
      const button = el("button", "add", product.available ? "Add to cart" : "Sold out");
      button.type = "button";
      button.disabled = !product.available;
      button.setAttribute("aria-label", `Add ${product.title} to cart`);
      button.addEventListener("click", () => addToCart(product));
      card.append(
        thumbnail(product),
        el("span", "title", product.title),
        el("span", "price", formatPrice(product.price)),
        button,
      );
      return card;
    });
    els.products.replaceChildren(...cards);
    if (!items.length) {
      const message = query ? `Nothing matches “${query}”.` : "The catalog is empty.";
      setStatus(els.catalogStatus, message, "info");
    } else {
      setStatus(els.catalogStatus, "");
    }
  }

  let searchTimer = 0;
  els.search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadProducts(els.search.value.trim()), SEARCH_DELAY_MS);
  });
  els.searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    loadProducts(els.search.value.trim());
  });

  // cart ----------------------------------------------------------------------------------

  function addToCart(product) {
    const line = state.cart.find((l) => l.product_id === product.product_id);
    if (line) {
      line.quantity += 1;
    } else {
      state.cart.push({
        product_id: product.product_id,
        variant_id: product.variant_id ?? null,
        title: product.title,
        price: product.price ?? null,
        image_url: product.image_url ?? null,
        quantity: 1,
      });
    }
    cartChanged();
  }

  function removeFromCart(productId) {
    state.cart = state.cart.filter((l) => l.product_id !== productId);
    cartChanged();
  }

  function cartChanged() {
    renderCart();
    refreshRecommendations();
  }

  function renderCart() {
    const lines = state.cart.map((line) => {
      const item = el("li", "line");
      item.dataset.productId = line.product_id;
      const text = el("span", "line-text");
      text.append(el("span", "title", line.title));
      const detail = [line.quantity > 1 ? `× ${line.quantity}` : "", formatPrice(line.price)];
      text.append(el("span", "detail", detail.filter(Boolean).join("  ·  ")));
      const remove = el("button", "remove", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${line.title} from cart`);
      remove.addEventListener("click", () => removeFromCart(line.product_id));
      item.append(thumbnail(line), text, remove);
      return item;
    });
    els.cart.replaceChildren(...lines);
    const count = state.cart.reduce((n, l) => n + l.quantity, 0);
    els.cartCount.textContent = String(count);
    els.cartEmpty.hidden = state.cart.length > 0;
  }

  // recommendations -----------------------------------------------------------------------

  async function refreshRecommendations() {
    const seq = ++state.recsSeq;
    const customer = els.customer.value.trim();
    const request = {
      cart: state.cart.map((l) => ({
        product_id: l.product_id,
        variant_id: l.variant_id,
        quantity: l.quantity,
      })),
      customer_id: customer || null,
      session_id: sessionId,
      placement: "cart",
      k: RECOMMENDATIONS_K,
    };
    els.recs.classList.add("loading");
    const started = performance.now();
    try {
      const body = await fetchJson("/v1/recommendations", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request),
      });
      if (seq !== state.recsSeq) return;
      renderRecommendations(body, Math.round(performance.now() - started));
    } catch (err) {
      if (seq !== state.recsSeq) return;
      els.recs.replaceChildren();
      els.recsMeta.textContent = "";
      setStatus(
        els.recsStatus,
        `Recommendations are unavailable right now (${err.message}). Your cart still works.`,
        "error",
      );
    } finally {
      if (seq === state.recsSeq) els.recs.classList.remove("loading");
    }
  }

  function renderRecommendations(body, elapsedMs) {
    const items = body.items.map((rec) => {
      const item = el("li");
      item.dataset.productId = rec.product_id;
      const button = el("button", "rec");
      button.type = "button";
      button.title = `Add ${rec.title} to cart`;
      const text = el("span", "rec-text");
      text.append(el("span", "title", rec.title), el("span", "reason", rec.reason));
      button.append(thumbnail(rec), text, el("span", "price", formatPrice(rec.price)));
      button.addEventListener("click", () => addToCart(rec));
      item.append(button);
      return item;
    });
    els.recs.replaceChildren(...items);
    setStatus(els.recsStatus, items.length ? "" : "No suggestions for this cart yet.", "info");
    const version = body.model_version === null ? "no model" : `model v${body.model_version}`;
    els.recsMeta.textContent = `source: ${body.source} · ${version} · ${elapsedMs} ms`;
    els.recsMeta.dataset.source = body.source;
  }

  let customerTimer = 0;
  els.customer.addEventListener("input", () => {
    clearTimeout(customerTimer);
    customerTimer = setTimeout(refreshRecommendations, SEARCH_DELAY_MS * 2);
  });

  renderCart();
  loadProducts("");
  refreshRecommendations();
})();
