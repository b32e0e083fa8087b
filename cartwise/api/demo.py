"""The demo storefront: `GET /` (the page) and `GET /v1/demo/products` (browse and search the
demo shop's catalog); and a theme's cart page holding the theme app extension's block,
`GET /demo/theme`, with local stand-ins for what Shopify serves around it (the app proxy, the
Ajax cart). Registered only in demo mode. Imports Flask, pydantic and layers 0-4."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    send_from_directory,
)
from flask.blueprints import BlueprintSetupState
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cartwise.api.auth import Caller
from cartwise.api.bodies import invalid, parse_json, parse_query
from cartwise.api.context import services
from cartwise.api.events import accept_events
from cartwise.api.recommendations import ProxyQuery, _answer
from cartwise.domain import Product
from cartwise.schemas import CartItem, RecommendationRequest, RequestContext
from cartwise.serving import in_stock

__all__ = [
    "CART_EXTENSION_KEY",
    "EXTENSION_ASSETS",
    "CartAdd",
    "DemoCart",
    "DemoProduct",
    "DemoProductList",
    "DemoProductQuery",
    "DemoThemeQuery",
    "bp",
]

bp = Blueprint("demo", __name__)

EXTENSION_ASSETS = (
    Path(__file__).resolve().parents[2]
    / "storefront_snippets/shopify/extensions/theme-recommendations/assets"
)
"""The theme block's script and styles, served as they are (a source checkout only)."""
_ASSETS = frozenset({"cartwise-recommendations.js", "cartwise-recommendations.css"})

CART_EXTENSION_KEY = "cartwise_demo_cart"
DEFAULT_CART = ("22423", "85123A")
"""Products of the bundled sample store that others are often bought with."""
CURATED_REASON = "Recommended by the shop"


class DemoProductQuery(BaseModel):
    """`q` matches titles and ids (case-insensitive); empty lists the catalog by title."""

    model_config = ConfigDict(extra="ignore")

    q: str = Field(default="", max_length=100)
    limit: int = Field(default=24, ge=1, le=100)


class DemoProduct(BaseModel):
    product_id: str
    variant_id: str | None
    title: str
    price: float | None
    image_url: str | None
    available: bool
    """False when the product is switched off or out of stock: shown, but not sold."""


class DemoProductList(BaseModel):
    items: list[DemoProduct]


@bp.get("/")
def page() -> str:
    return render_template("demo.html", shop=services().settings.demo_shop)


@bp.get("/v1/demo/products")
def products() -> Response:
    """422 for a bad `limit` or an overlong `q`; 404 `unknown_shop` before the demo is loaded."""
    ctx = services()
    query = parse_query(DemoProductQuery)
    shop = ctx.settings.demo_shop
    q = query.q.strip()
    if q:
        found = ctx.store.products.search(shop, q, limit=query.limit)
    else:
        found = ctx.store.products.list(shop, limit=query.limit)
    body = DemoProductList(items=[_card(p) for p in found])
    return jsonify(body.model_dump(mode="json"))


def _card(product: Product) -> DemoProduct:
    return DemoProduct(
        product_id=product.product_id,
        variant_id=product.variant_id,
        title=product.title,
        price=product.price,
        image_url=product.image_url,
        available=in_stock(product),
    )


class DemoThemeQuery(BaseModel):
    """The block's settings, as a merchant would set them in the theme editor, and the cart."""

    model_config = ConfigDict(extra="ignore")

    cart: str = Field(default="", max_length=1000)
    k: int = Field(default=4, ge=1, le=8)
    budget: int = Field(default=300, ge=100, le=1500)
    defaults: bool = True
    heading: str = Field(default="You might also like", max_length=100)
    currency: str = Field(default="", pattern=r"^(?:[A-Z]{3})?$")


class CartAddLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | str
    quantity: int = Field(default=1, ge=1, le=100_000)


class CartAdd(BaseModel):
    """`POST /cart/add.js` as the block sends it: `{"items": [{"id": variant, "quantity": n}]}`."""

    model_config = ConfigDict(extra="ignore")

    items: list[CartAddLine] = Field(min_length=1, max_length=250)


class DemoCart:
    """The lines added through the demo's `/cart/add.js`, one cart per app (a storefront keeps
    one per shopper). Thread-safe: the demo server answers on several threads."""

    def __init__(self) -> None:
        self._lines: dict[str, dict[str, Any]] = {}
        self._token = uuid.uuid4().hex
        self._lock = threading.Lock()

    def add(self, product: Product, quantity: int) -> dict[str, Any]:
        """The line after adding, shaped like a line of Shopify's Ajax cart (prices in cents)."""
        variant = product.variant_id or product.product_id
        cents = round((product.price or 0.0) * 100)
        with self._lock:
            line = self._lines.get(variant)
            total = quantity + (line["quantity"] if line else 0)
            line = {
                "id": _numeric(variant),
                "key": f"{variant}:{self._token[:8]}",
                "variant_id": _numeric(variant),
                "product_id": _numeric(product.product_id),
                "title": product.title,
                "product_title": product.title,
                "quantity": total,
                "price": cents,
                "line_price": cents * total,
                "final_price": cents,
                "final_line_price": cents * total,
                "image": product.image_url,
            }
            self._lines[variant] = line
            return dict(line)

    def as_json(self) -> dict[str, Any]:
        """The cart as Shopify's `GET /cart.js` answers it, reduced to what the demo knows."""
        with self._lock:
            items = [dict(line) for line in self._lines.values()]
        return {
            "token": self._token,
            "item_count": sum(line["quantity"] for line in items),
            "items": items,
            "total_price": sum(line["line_price"] for line in items),
        }


@bp.record_once
def _bind_cart(state: BlueprintSetupState) -> None:
    state.app.extensions[CART_EXTENSION_KEY] = DemoCart()


def _cart() -> DemoCart:
    cart: DemoCart = current_app.extensions[CART_EXTENSION_KEY]
    return cart


@bp.get("/demo/theme")
def theme_page() -> str:
    """A theme's cart page: cart lines, the block as its Liquid renders it, content below."""
    ctx = services()
    shop = ctx.settings.demo_shop
    query = parse_query(DemoThemeQuery)
    wanted = _ids(query.cart) or list(DEFAULT_CART)
    found = ctx.store.products.get_many(shop, wanted)
    lines = [found[p] for p in wanted if p in found]
    if not lines:
        lines = ctx.store.products.list(shop, limit=2)
    in_cart = {p.product_id for p in lines}
    return render_template(
        "demo_theme.html",
        shop=shop,
        lines=lines,
        subtotal=sum(p.price or 0.0 for p in lines),
        block=query,
        cart_ids=",".join(p.product_id for p in lines),
        curated=_curated(shop, in_cart, query.k) if query.defaults else [],
    )


@bp.get("/demo/theme/theme.css")
def theme_css() -> Response:
    return Response(render_template("demo_theme.css"), mimetype="text/css")


@bp.get("/demo/theme/assets/<name>")
def theme_asset(name: str) -> Response:
    """The extension's own files, so the page runs exactly what a theme would load."""
    if name not in _ASSETS:
        abort(404)
    return send_from_directory(EXTENSION_ASSETS, name)


@bp.get("/apps/cartwise/recommendations")
def proxy_recommendations() -> Response:
    """What Shopify's app proxy forwards to `GET /proxy/recommendations`, answered for the demo
    shop without a signature: the same query, request and `_answer` as that endpoint."""
    query = parse_query(ProxyQuery)
    ids = [p.strip() for p in query.cart.split(",") if p.strip()][:250]
    try:
        body = RecommendationRequest(
            cart=[CartItem(product_id=p) for p in ids],
            session_id=query.session_id,
            placement=query.placement,
            k=query.k,
            context=RequestContext.model_validate(
                {"device": query.device, "country": query.country}
            )
            if query.device or query.country
            else None,
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    return _answer(_demo_caller(), body)


@bp.post("/apps/cartwise/events")
def proxy_events() -> Response:
    """What Shopify's app proxy forwards to `POST /proxy/events`, for the demo shop."""
    return accept_events(_demo_caller())


@bp.post("/cart/add.js")
def cart_add() -> Response:
    """Shopify's Ajax cart add: `{"items": [line, ...]}` for the added variants; 404 for an
    unknown variant and 422 for one that is sold out, with Shopify's error body. Variants are
    looked up in the whole catalog, which is fine for a demo shop's few hundred products."""
    ctx = services()
    body = parse_json(CartAdd)
    by_variant = {
        p.variant_id or p.product_id: p for p in ctx.store.products.list(ctx.settings.demo_shop)
    }
    wanted = [(by_variant.get(str(line.id)), line.quantity) for line in body.items]
    for product, _ in wanted:
        if product is None:
            return _cart_error(404, "Cannot find variant")
        if not in_stock(product):
            return _cart_error(422, f"{product.title} is sold out.")
    cart = _cart()
    added = [cart.add(product, quantity) for product, quantity in wanted if product is not None]
    return jsonify({"items": added})


@bp.get("/cart.js")
def cart_json() -> Response:
    """The demo cart as Shopify's `GET /cart.js` answers it: what `/cart/add.js` added."""
    response = jsonify(_cart().as_json())
    response.headers["Cache-Control"] = "no-store"
    return response


def _demo_caller() -> Caller:
    return Caller(services().settings.demo_shop, "demo")


def _ids(joined: str) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in joined.split(",") if p.strip()))


def _curated(shop: str, in_cart: set[str], k: int) -> list[dict[str, object]]:
    """The block's curated products: the shop's curated defaults, else the first products of
    the catalog; what the Liquid renders from the block's product list."""
    store = services().store
    chosen = list(store.rules.get(shop).defaults)
    found = store.products.get_many(shop, chosen)
    products = [found[p] for p in chosen if p in found]
    if not products:
        products = store.products.list(shop, limit=k + len(in_cart) + 8)
    picked = [p for p in products if in_stock(p) and p.product_id not in in_cart][:k]
    return [
        {
            "product_id": p.product_id,
            "variant_id": p.variant_id,
            "title": p.title,
            "price": p.price,
            "image_url": p.image_url,
            "reason": CURATED_REASON,
        }
        for p in picked
    ]


def _numeric(value: str) -> int | str:
    """Shopify's Ajax cart gives ids as numbers; demo ids that are not numbers stay strings."""
    return int(value) if value.isdigit() and len(value) < 16 else value


def _cart_error(status: int, description: str) -> Response:
    response = jsonify({"status": status, "message": "Cart Error", "description": description})
    response.status_code = status
    return response
