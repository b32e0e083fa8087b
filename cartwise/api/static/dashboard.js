// The embedded dashboard: loads each section's HTML with a fresh App Bridge session token, saves
// the rules through the admin API, previews a cart and runs the back-test. No inline script,
// no framework; data from JSON is written with textContent only.
"use strict";

(() => {
  const token = async () => {
    if (!window.shopify || typeof window.shopify.idToken !== "function") {
      throw new Error("App Bridge did not load; open cartwise from your Shopify admin.");
    }
    return window.shopify.idToken();
  };

  const authed = async (url, init = {}) => {
    const headers = new Headers(init.headers || {});
    headers.set("Authorization", `Bearer ${await token()}`);
    return fetch(url, { ...init, headers, credentials: "same-origin" });
  };

  const sendJson = async (url, method, body) => {
    const response = await authed(url, {
      method,
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = data && data.error ? data.error.message : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return data;
  };

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };

  const setStatus = (id, text, kind = "") => {
    const status = document.getElementById(id);
    if (!status) return;
    status.textContent = text;
    status.dataset.kind = kind;
  };

  const loadSection = async (section) => {
    const target = section.querySelector(".fragment");
    try {
      const response = await authed(section.dataset.src, { headers: { Accept: "text/html" } });
      const type = response.headers.get("Content-Type") || "";
      if (!type.startsWith("text/html")) throw new Error(`HTTP ${response.status}`);
      // Server-rendered by our own templates (escaped) and charts.py (escaped SVG).
      target.innerHTML = await response.text();
      section.dataset.state = response.ok ? "ready" : "error";
    } catch (error) {
      target.replaceChildren(
        el("p", { class: "refused-fragment", role: "alert" },
          `This section could not be loaded: ${error.message}`),
      );
      section.dataset.state = "error";
    } finally {
      section.removeAttribute("aria-busy");
    }
  };

  const ids = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

  const optionalNumber = (form, name) => {
    const raw = form.elements[name].value.trim();
    return raw === "" ? null : Number(raw);
  };

  const saveRules = async (form) => {
    const percent = optionalNumber(form, "exploration_percent");
    const body = {
      defaults: ids(form.elements.defaults.value),
      pinned: ids(form.elements.pinned.value),
      blocked: ids(form.elements.blocked.value),
      min_price: optionalNumber(form, "min_price"),
      max_price: optionalNumber(form, "max_price"),
      max_per_vendor: optionalNumber(form, "max_per_vendor"),
      max_per_category: optionalNumber(form, "max_per_category"),
      exploration_share: percent === null ? 0 : percent / 100,
    };
    setStatus("rules-status", "Saving…");
    try {
      await sendJson(form.dataset.url, "PUT", body);
      setStatus("rules-status", "Saved. Shoppers see the new rules within seconds.", "ok");
    } catch (error) {
      setStatus("rules-status", `Not saved: ${error.message}`, "error");
    }
  };

  const showPreview = (target, answer) => {
    const lead = answer.items.length
      ? "For this cart the shopper would see:"
      : "For this cart the shopper would see no recommendations.";
    const list = el("ol", { class: "preview-items" });
    for (const item of answer.items) {
      list.append(
        el("li", { "data-product-id": item.product_id },
          el("strong", {}, item.title), " ", el("span", { class: "muted" }, item.product_id),
          " because ", el("q", { class: "reason" }, item.reason)),
      );
    }
    const model = answer.model_version === null ? "no model yet" : `model v${answer.model_version}`;
    target.replaceChildren(
      el("p", {}, lead), list, el("p", { class: "muted" }, `Source: ${answer.source} · ${model}`),
    );
  };

  const preview = async (form) => {
    const target = document.getElementById("preview-result");
    const customer = form.elements.customer_id.value.trim();
    setStatus("preview-status", "Asking…");
    try {
      const answer = await sendJson(form.dataset.url, "POST", {
        cart: ids(form.elements.cart.value),
        customer_id: customer || null,
      });
      setStatus("preview-status", "");
      showPreview(target, answer);
    } catch (error) {
      setStatus("preview-status", error.message, "error");
    }
  };

  const share = (value) => (value === null ? "—" : `${(value * 100).toFixed(1)} %`);
  const decimal = (value) => (value === null ? "—" : value.toFixed(3));

  const showBacktest = (target, result) => {
    const head = el("tr", {},
      ...["Method", "Hit rate @10", "NDCG @10", "MRR @10", "Coverage", "Next-basket hit rate"]
        .map((h, i) => el("th", { scope: "col", class: i ? "num" : "" }, h)));
    const rows = Object.entries(result.methods).map(([name, m]) =>
      el("tr", { "data-method": name },
        el("th", { scope: "row" }, name),
        el("td", { class: "num" }, share(m.hit_rate)),
        el("td", { class: "num" }, decimal(m.ndcg)),
        el("td", { class: "num" }, decimal(m.mrr)),
        el("td", { class: "num" }, share(m.coverage)),
        el("td", { class: "num" }, share(m.next_basket_hit_rate))));
    const table = el("table", { class: "table" }, el("thead", {}, head), el("tbody", {}, ...rows));
    const took = result.seconds < 1
      ? `${Math.round(result.seconds * 1000)} ms`
      : `${result.seconds.toFixed(1)} s`;
    const when = result.cached
      ? `Kept from the run of ${result.computed_at.slice(0, 16).replace("T", " ")} UTC, which took ${took}.`
      : `Took ${took}.`;
    const used = `${result.cases.toLocaleString("en")} test baskets from ${
      result.test_orders.toLocaleString("en")} orders, trained on ${
      result.train_orders.toLocaleString("en")} earlier ones (${
      result.orders_used.toLocaleString("en")} orders used${result.capped ? ", capped" : ""}).`;
    target.replaceChildren(el("div", { class: "table-wrap" }, table), el("p", { class: "muted", "data-testid": "backtest-took" },
      `${used} ${when}`));
  };

  const backtest = async (button) => {
    const target = document.getElementById("backtest-result");
    button.disabled = true;
    setStatus("backtest-status", "Running… this can take up to a minute.");
    try {
      const result = await sendJson(button.dataset.url, "POST", {});
      setStatus("backtest-status", "");
      showBacktest(target, result);
    } catch (error) {
      setStatus("backtest-status", error.message, "error");
    } finally {
      button.disabled = false;
    }
  };

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.id === "rules-form") {
      event.preventDefault();
      saveRules(form);
    } else if (form.id === "preview-form") {
      event.preventDefault();
      preview(form);
    }
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("#backtest-run");
    if (button) backtest(button);
  });

  document.addEventListener("DOMContentLoaded", () => {
    for (const section of document.querySelectorAll("section[data-fragment]")) {
      loadSection(section);
    }
  });
})();
