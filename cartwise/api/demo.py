"""The demo storefront: `GET /` (the page) and `GET /v1/demo/products` (browse and search the
demo shop's catalog). Registered only in demo mode. Imports Flask, pydantic and layers 0-4."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template
from pydantic import BaseModel, ConfigDict, Field

from cartwise.api.bodies import parse_query
from cartwise.api.context import services
from cartwise.domain import Product
from cartwise.serving import in_stock

__all__ = ["DemoProduct", "DemoProductList", "DemoProductQuery", "bp"]

bp = Blueprint("demo", __name__)


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
