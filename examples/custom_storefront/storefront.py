"""A custom storefront's cart page with "you may also like" from cartwise, through the SDK.

Standard library only besides `cartwise` itself (the SDK, `pip install cartwise`): a WSGI app
served by `wsgiref`. The page renders on time whatever cartwise does: the SDK answers within
its budget, with the curated defaults below when the server is slow, down or refuses the key.

    CARTWISE_URL=http://127.0.0.1:8000 python examples/custom_storefront/storefront.py
"""

from __future__ import annotations

import html
import logging
import os
import uuid
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs
from wsgiref.simple_server import make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from cartwise.sdk import CallInfo, CartwiseClient, RecommendationItem

__all__ = ["DEFAULTS", "PRODUCTS", "create_app", "main", "render"]

PRODUCTS = {
    "22423": ("Regency cakestand, 3 tier", 12.75),
    "22697": ("Green Regency teacup and saucer", 2.95),
    "22699": ("Roses Regency teacup and saucer", 2.95),
    "22720": ("Set of 3 cake tins, pantry design", 4.95),
    "21212": ("Pack of 72 retrospot cake cases", 0.55),
    "85123A": ("White hanging heart T-light holder", 2.95),
    "84879": ("Assorted colour bird ornament", 1.69),
    "47566": ("Party bunting", 4.95),
    "20725": ("Lunch bag red retrospot", 1.65),
    "22386": ("Jumbo bag pink polkadot", 2.08),
}
"""The storefront's own catalog (a few products of cartwise's bundled demo store)."""

DEFAULTS = [
    RecommendationItem(
        product_id=pid, title=PRODUCTS[pid][0], reason="Customer favourite", score=0.0
    )
    for pid in ("85123A", "47566", "84879", "22423")
]
"""Curated defaults: shown whenever cartwise cannot answer in time."""

log = logging.getLogger("storefront")


def create_app(client: CartwiseClient) -> WSGIApplication:
    """The storefront: `GET /` is the cart page; `POST /add` adds a product (a click and an
    add-to-cart for cartwise); `POST /clear` empties the cart."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        session = cookies["sid"].value if "sid" in cookies else uuid.uuid4().hex
        cart = [p for p in cookies["cart"].value.split("-") if p] if "cart" in cookies else []
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        headers = [("Set-Cookie", f"sid={session}; Path=/; HttpOnly; SameSite=Lax")]
        if method == "POST" and path in ("/add", "/clear"):
            form = _form(environ)
            if path == "/add" and form.get("product") in PRODUCTS:
                product, shown_in = form["product"], form.get("request_id")
                client.track("click", product, session_id=session, request_id=shown_in)
                client.track("add_to_cart", product, session_id=session, request_id=shown_in)
                cart.append(product)
            if path == "/clear":
                cart = []
            headers += [("Set-Cookie", f"cart={'-'.join(cart)}; Path=/"), ("Location", "/")]
            start_response("303 See Other", headers)
            return [b""]
        if method != "GET" or path != "/":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        recs = client.recommend(cart, session_id=session, k=4, placement="cart")
        for item in recs.items:
            client.track(
                "impression",
                item.product_id,
                session_id=session,
                request_id=recs.request_id,
                placement="cart",
            )
        page = render(cart, recs.items, recs.request_id, recs.source)
        start_response("200 OK", [*headers, ("Content-Type", "text/html; charset=utf-8")])
        return [page.encode()]

    return app


def render(cart: list[str], items: list[RecommendationItem], request_id: str, source: str) -> str:
    """The cart page: the cart's lines, then the recommendations with their reasons."""
    lines = "".join(f"<li>{html.escape(_title(p))}</li>" for p in cart) or "<li>(empty)</li>"
    cards = "".join(
        "<li class='rec'>"
        f"<strong>{html.escape(item.title or _title(item.product_id))}</strong> "
        f"<em>{html.escape(item.reason)}</em>"
        "<form method='post' action='/add'>"
        f"<input type='hidden' name='product' value='{html.escape(item.product_id)}'>"
        f"<input type='hidden' name='request_id' value='{html.escape(request_id)}'>"
        "<button>Add to cart</button></form></li>"
        for item in items
    )
    shop = "".join(
        f"<form method='post' action='/add'><input type='hidden' name='product' value='{pid}'>"
        f"<button>{html.escape(title)} ({price:.2f})</button></form>"
        for pid, (title, price) in PRODUCTS.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Cart</title></head><body>"
        f"<h1>Your cart</h1><ul>{lines}</ul>"
        "<form method='post' action='/clear'><button>Empty the cart</button></form>"
        f"<h2>You may also like</h2><ul data-source='{html.escape(source)}'>{cards}</ul>"
        f"<h2>All products</h2>{shop}</body></html>"
    )


def _title(product_id: str) -> str:
    return PRODUCTS.get(product_id, (product_id, 0.0))[0]


def _form(environ: WSGIEnvironment) -> dict[str, str]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(min(length, 10_000)).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(body).items()}


def _log_call(info: CallInfo) -> None:
    log.info(
        "%s source=%s %.1f ms attempts=%d status=%s breaker=%s error=%s",
        info.operation,
        info.source,
        info.latency * 1000,
        info.attempts,
        info.status,
        info.breaker.value,
        info.error,
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per call is ours, below
    url = os.environ.get("CARTWISE_URL", "http://127.0.0.1:8000")
    key = os.environ.get("CARTWISE_API_KEY") or None
    port = int(os.environ.get("PORT", "8080"))
    with CartwiseClient(url, key, budget=0.3, defaults=DEFAULTS, on_call=_log_call) as client:
        server = make_server("127.0.0.1", port, create_app(client))
        print(f"storefront on http://127.0.0.1:{port}/ (cartwise at {url}); Ctrl+C to stop")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


if __name__ == "__main__":
    main()
