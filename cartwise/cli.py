"""The `cartwise` command: import, backfill, train, recommend, evaluate, serve and demo, and
`db` for the database schema.

Every `CartwiseError` becomes `error: <message>` on stderr and exit code 2; Ctrl+C exits 130.
Layer 5: may import everything; heavy modules are imported by the command that needs them, so
`cartwise --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cartwise import __version__
from cartwise.errors import CartwiseError, InvalidRequest, ModelNotTrained, UnknownShop

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from tqdm import tqdm

    from cartwise.connector.csv_files import RowError
    from cartwise.domain import ShopRef
    from cartwise.settings import Settings
    from cartwise.storage import Store
    from cartwise.training import ImportReport

__all__ = ["main"]

EXIT_BEHIND = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
_SHOWN_ROW_ERRORS = 20

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (0 ok, 1 `db check` found the schema
    behind, 2 error, 130 interrupted)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    handler: Handler = args.handler
    try:
        return handler(args)
    except CartwiseError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        print(f"error: invalid settings: {problems}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="SQLAlchemy URL (overrides CARTWISE_DATABASE_URL; default sqlite:///./cartwise.db)",
    )
    parser = argparse.ArgumentParser(
        prog="cartwise",
        description="Checkout personalization engine for Shopify and Magento 2.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"cartwise {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    imp = command("import", _cmd_import, "Import a shop's orders and products from CSV files.")
    _add_shop(imp)
    imp.add_argument("--orders", type=Path, metavar="FILE", help="orders.csv or orders.csv.gz")
    imp.add_argument("--products", type=Path, metavar="FILE", help="products.csv[.gz]")
    imp.add_argument(
        "--data", type=Path, metavar="DIR", help="a folder holding both files (instead of both)"
    )

    train = command("train", _cmd_train, "Train a new model version for a shop.")
    _add_shop(train)

    rec = command("recommend", _cmd_recommend, "Recommend products for a cart.")
    _add_shop(rec)
    rec.add_argument("--cart", default="", help="comma-separated product ids (empty: trending)")
    rec.add_argument("--customer", default=None, help="customer id, for their own history")
    rec.add_argument("-k", type=_count, default=10, help="how many products (1-100, default 10)")
    rec.add_argument("--json", action="store_true", help="print JSON instead of a table")

    ev = command("evaluate", _cmd_evaluate, "Measure recommendation quality on a dataset folder.")
    ev.add_argument("--data", type=Path, required=True, metavar="DIR")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")

    back = command(
        "backfill",
        _cmd_backfill,
        "Bring a shop's products and order history in (an installed Shopify shop, or a "
        "connected Magento store), then train it.",
    )
    which = back.add_mutually_exclusive_group(required=True)
    which.add_argument("--shop", type=_domain, metavar="DOMAIN", help="an installed Shopify shop")
    which.add_argument(
        "--magento-url", metavar="URL", help="a Magento store connected with magento-connect"
    )
    back.add_argument("--store-code", default=None, help="the Magento store view, if one")
    back.add_argument(
        "--again", action="store_true", help="run it again even where it finished before"
    )
    back.add_argument(
        "--reconcile",
        action="store_true",
        help="only fetch what changed since the last backfill or sync",
    )

    connect = command(
        "magento-connect",
        _cmd_magento_connect,
        "Connect a Magento 2 store with its integration's credentials; prints the secret its "
        "cartwise module signs deliveries with.",
    )
    connect.add_argument("--url", required=True, help="the store's https base URL")
    connect.add_argument("--store-code", default=None, help="one store view (e.g. de)")
    connect.add_argument(
        "--bearer",
        action="store_true",
        help="send the access token as a Bearer token (the store must allow it) instead of "
        "signing with OAuth 1.0a",
    )
    connect.epilog = (
        "The integration's credentials are read from CARTWISE_MAGENTO_CONSUMER_KEY, "
        "CARTWISE_MAGENTO_CONSUMER_SECRET, CARTWISE_MAGENTO_ACCESS_TOKEN and "
        "CARTWISE_MAGENTO_ACCESS_TOKEN_SECRET (kept out of the shell history)."
    )

    serve = command("serve", _cmd_serve, "Serve the HTTP API.")
    _add_listen(serve)
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N",
        help="gunicorn worker processes (default: settings, 1)",
    )

    work = command(
        "worker",
        _cmd_worker,
        "Work the job queue in this process until stopped: RQ tickets on CARTWISE_REDIS_URL "
        "when set, else the database queue alone. Run web workers with "
        "CARTWISE_JOBS__IN_PROCESS=false beside it.",
    )
    work.add_argument("--burst", action="store_true", help="work what is ready now, then exit")

    demo = command("demo", _cmd_demo, "Load the bundled sample store, train it and serve it.")
    _add_listen(demo)
    demo.add_argument("--no-serve", action="store_true", help="import and train, then exit")

    db_help = "Show or migrate the database schema."
    db = commands.add_parser("db", parents=[common], help=db_help, description=db_help)
    _add_db_commands(db, common)
    return parser


def _add_db_commands(db: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    commands = db.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    up = command("upgrade", _cmd_db_upgrade, "Migrate the schema to this version's revision.")
    up.add_argument("--revision", default="head", metavar="R", help="stop at R (default: head)")
    command("current", _cmd_db_current, "Print the revision the schema is at.")
    command("check", _cmd_db_check, "Exit 1 when the schema is not at this version's revision.")
    rev = command(
        "revision",
        _cmd_db_revision,
        "Write a new migration for what storage/schema.py has and the migrations lack "
        "(for developers, in a source checkout).",
    )
    rev.add_argument("-m", "--message", required=True, help="what the migration changes")


def _add_shop(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--shop", required=True, type=_domain, metavar="DOMAIN", help="e.g. my-shop.myshopify.com"
    )


def _add_listen(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--host", default=None, help="interface (default: settings, 127.0.0.1)")
    sub.add_argument("--port", type=_port, default=None, help="port (default: settings, 8000)")


def _workers(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} workers: between 1 and 64, please")
    return value


def _domain(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise argparse.ArgumentTypeError("the shop domain is empty")
    return value


def _count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 100")
    return value


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 65535")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    from cartwise.settings import Settings

    url = getattr(args, "database_url", None)
    return Settings(database_url=url) if url else Settings()


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    from cartwise import storage

    with storage.open(settings.resolved_database_url(), upgrade=settings.auto_migrate) as store:
        yield store


@contextmanager
def _engine(args: argparse.Namespace) -> Iterator[Engine]:
    from cartwise.storage.engine import make_engine

    engine = make_engine(_settings(args).resolved_database_url())
    try:
        yield engine
    finally:
        engine.dispose()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


class _Bars:
    """A tqdm bar for the file being read, on stderr, shown only when stderr is a terminal."""

    def __init__(self) -> None:
        self._stage = ""
        self._bar: tqdm[Any] | None = None

    def __call__(self, stage: str, count: int) -> None:
        from tqdm import tqdm

        if stage != self._stage:
            self.close()
            self._stage = stage
            if stage == "writing":
                if sys.stderr.isatty():
                    print(f"writing {count} records to the store ...", file=sys.stderr)
                return
            self._bar = tqdm(
                desc=f"reading {stage}", unit=" rows", file=sys.stderr, disable=None, leave=False
            )
        if self._bar is not None:
            self._bar.update(count - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _LineBars:
    """One tqdm bar per resource of a backfill, counting result lines, on stderr."""

    def __init__(self) -> None:
        self._resource = ""
        self._bar: tqdm[Any] | None = None

    def __call__(self, resource: str, lines: int, total: int) -> None:
        from tqdm import tqdm

        if resource != self._resource:
            self.close()
            self._resource = resource
            self._bar = tqdm(
                desc=resource, total=total or None, unit=" lines", file=sys.stderr, disable=None
            )
        if self._bar is not None:
            self._bar.update(lines - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _cmd_backfill(args: argparse.Namespace) -> int:
    import asyncio

    from cartwise.ingestion import EventProcessor

    settings = _settings(args)
    with _store(settings) as store:
        processor = EventProcessor(
            store,
            secret=settings.effective_secret_key(),
            settings=settings.jobs,
            consent_required=settings.consent_required,
        )
        bars = _LineBars()
        try:
            if args.magento_url:
                shop, report = asyncio.run(
                    _magento_backfill(args, settings, store, processor, bars)
                )
            else:
                shop, report = (
                    args.shop,
                    asyncio.run(_shopify_backfill(args, settings, store, processor, bars)),
                )
        finally:
            bars.close()
        for resource, count in report.counts.items():
            print(
                f"{resource}: {count.objects} read, {count.written} written"
                + (f", {count.skipped} unreadable" if count.skipped else "")
                + (f", {count.orphans} lines without their parent" if count.orphans else "")
            )
        for state in store.sync.for_shop(shop):
            if state.message:
                print(f"note: {state.message}")
        print("model trained" if report.trained else "model unchanged")
    return 0


async def _shopify_backfill(
    args: argparse.Namespace, settings: Settings, store: Store, processor: Any, bars: _LineBars
) -> Any:
    from cartwise.backfill import backfill_shopify, reconcile_shopify
    from cartwise.installs import reads_all_orders, shopify_admin

    install = store.installs.get(args.shop)
    if install is None or not install.active:
        raise UnknownShop(
            f"cartwise is not installed on {args.shop}: install the app on the shop first"
        )
    async with shopify_admin(store, settings, args.shop) as admin:
        if args.reconcile:
            return await reconcile_shopify(store, args.shop, admin, processor)
        return await backfill_shopify(
            store,
            args.shop,
            admin,
            processor,
            full_history=reads_all_orders(install.scope),
            progress=bars,
            again=args.again,
        )


async def _magento_backfill(
    args: argparse.Namespace, settings: Settings, store: Store, processor: Any, bars: _LineBars
) -> tuple[str, Any]:
    from cartwise.backfill import backfill_magento
    from cartwise.connector.magento.urls import shop_key, validate_store_code, validate_store_url
    from cartwise.magento_stores import client_for

    allow = settings.magento.allow_private_urls
    target = validate_store_url(args.magento_url, allow_private=allow)
    shop = shop_key(target, validate_store_code(args.store_code))
    async with client_for(store, shop, allow_private=allow) as client:
        report = await backfill_magento(
            store,
            shop,
            client,
            processor,
            reconcile=args.reconcile or args.again,
            progress=bars,
        )
    return shop, report


def _cmd_magento_connect(args: argparse.Namespace) -> int:
    import os

    from cartwise.connector.magento.auth import IntegrationCredentials
    from cartwise.magento_stores import connect_store

    names = {
        "consumer_key": "CARTWISE_MAGENTO_CONSUMER_KEY",
        "consumer_secret": "CARTWISE_MAGENTO_CONSUMER_SECRET",
        "access_token": "CARTWISE_MAGENTO_ACCESS_TOKEN",
        "access_token_secret": "CARTWISE_MAGENTO_ACCESS_TOKEN_SECRET",
    }
    values = {field: os.environ.get(env, "") for field, env in names.items()}
    needed = ["access_token"] if args.bearer else list(names)
    missing = [names[f] for f in needed if not values[f]]
    if missing:
        raise InvalidRequest(f"set {', '.join(missing)} to the integration's credentials")
    try:
        credentials = IntegrationCredentials(**values, bearer=args.bearer)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    settings = _settings(args)
    with _store(settings) as store:
        shop, secret = connect_store(
            store,
            args.url,
            credentials,
            store_code=args.store_code,
            allow_private=settings.magento.allow_private_urls,
        )
    print(f"connected {shop}; its history backfill is queued for the server's job worker, or")
    print(f"run it now: cartwise backfill --magento-url {args.url}")
    print(f"signing secret (enter it in the cartwise module's configuration; shown once): {secret}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from cartwise.connector.csv_files import find_dataset

    if args.data is not None:
        if args.orders is not None or args.products is not None:
            raise InvalidRequest("give either --data or --orders and --products, not both")
        orders, products = find_dataset(args.data)
    elif args.orders is None or args.products is None:
        raise InvalidRequest("give --orders and --products (or --data with a folder holding both)")
    else:
        orders, products = args.orders, args.products
    with _store(_settings(args)) as store:
        report = _import(store, args.shop, orders, products)
    _print_import(report, orders, products)
    return 0


def _import(store: Store, shop: ShopRef | str, orders: Path, products: Path) -> ImportReport:
    from cartwise.training import import_dataset

    bars = _Bars()
    try:
        return import_dataset(store, shop, orders, products, progress=bars)
    finally:
        bars.close()


def _print_import(report: ImportReport, orders: Path, products: Path) -> None:
    bad: list[tuple[str, RowError]] = [
        *((products.name, e) for e in report.product_errors),
        *((orders.name, e) for e in report.order_errors),
    ]
    for name, row_error in bad[:_SHOWN_ROW_ERRORS]:
        print(f"{name} {row_error}", file=sys.stderr)
    if len(bad) > _SHOWN_ROW_ERRORS:
        print(f"... and {len(bad) - _SHOWN_ROW_ERRORS} more bad rows", file=sys.stderr)
    print(
        f"{products.name}: {report.product_rows} rows, {report.products} products, "
        f"{len(report.product_errors)} bad rows skipped"
    )
    print(
        f"{orders.name}: {report.order_rows} rows, {report.orders} orders "
        f"({report.order_lines} lines), {len(report.order_errors)} bad rows skipped"
    )
    if report.added_products:
        print(
            f"{report.added_products} products appear only in orders: added with their id as title"
        )
    print(
        f"shop {report.shop}: {report.products_written} products and "
        f"{report.orders_written} new or changed orders written"
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from cartwise.training import train_shop

    with _store(_settings(args)) as store:
        report = train_shop(store, args.shop)
    print(
        f"shop {report.shop}: model version {report.version} trained on {report.n_orders} orders "
        f"({report.n_interactions} lines, {report.n_carts} carts), {report.n_items} items, "
        f"fit {report.fit_seconds:.2f}s"
    )
    return 0


def _cmd_recommend(args: argparse.Namespace) -> int:
    from cartwise.recommender import HybridRecommender

    cart = [pid.strip() for pid in args.cart.split(",") if pid.strip()]
    with _store(_settings(args)) as store:
        if store.shops.get(args.shop) is None:
            raise UnknownShop(f"unknown shop {args.shop!r}")
        artifact = store.models.latest(args.shop)
        if artifact is None:
            raise ModelNotTrained(
                f"shop {args.shop!r} has no model yet: run `cartwise train --shop {args.shop}`"
            )
        model = HybridRecommender.from_bytes(artifact.blob)
        recs = model.recommend(cart=cart, customer_id=args.customer, k=args.k)
        known = store.products.get_many(args.shop, [*cart, *(r.product_id for r in recs)])
    for pid in cart:
        if pid not in known:
            print(f"note: product {pid!r} is not in the catalog of {args.shop}", file=sys.stderr)
    rows = [
        {
            "rank": rank,
            "product_id": rec.product_id,
            "title": known[rec.product_id].title if rec.product_id in known else "",
            "score": rec.score,
            "reason": rec.reason,
        }
        for rank, rec in enumerate(recs, start=1)
    ]
    if args.json:
        body = {"shop": args.shop, "model_version": artifact.version, "recommendations": rows}
        print(json.dumps(body, indent=2))
    elif not rows:
        print("no recommendations")
    else:
        _print_table(rows)
    return 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    cells = [
        [str(r["rank"]), r["product_id"], r["title"], f"{r['score']:.4f}", r["reason"]]
        for r in rows
    ]
    header = ["rank", "product_id", "title", "score", "reason"]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header) - 1)]
    for row in [header, *cells]:
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cartwise.evaluation import evaluate_dataset, format_report

    report = evaluate_dataset(args.data, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_report(report))
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from cartwise.storage import migrate

    with _engine(args) as engine:
        done = migrate.upgrade(engine, args.revision)
        start = migrate.BASELINE if done.adopted else done.before
        if done.adopted:
            print(f"{_url(engine)}: tables made before migrations, stamped at {start}")
        if done.after != start:
            print(f"{_url(engine)}: upgraded from {start or 'none'} to {done.after}")
        elif not done.adopted:
            print(f"{_url(engine)}: already at revision {start or 'none'}")
    return 0


def _cmd_db_current(args: argparse.Namespace) -> int:
    from cartwise.storage import migrate

    with _engine(args) as engine:
        present, head = migrate.current(engine), migrate.head()
    print(f"{present or 'none'} ({'head' if present == head else f'head is {head}'})")
    return 0


def _cmd_db_check(args: argparse.Namespace) -> int:
    from cartwise.storage import migrate

    with _engine(args) as engine:
        present, head = migrate.current(engine), migrate.head()
        if present != head:
            print(
                f"{_url(engine)}: at schema revision {present or 'none'}, this version needs "
                f"{head}: run `cartwise db upgrade`",
                file=sys.stderr,
            )
            return EXIT_BEHIND
        print(f"{_url(engine)}: at revision {head}, up to date")
    return 0


def _cmd_db_revision(args: argparse.Namespace) -> int:
    from cartwise.storage import migrate

    path = migrate.revision(args.message)
    print(f"wrote {path}: review it, then run the tests")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.workers is not None:
        server = settings.server.model_copy(update={"workers": args.workers})
        settings = settings.model_copy(update={"server": server})
    with _store(settings) as store:
        _run(settings, store, args.host, args.port)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from cartwise.jobs import build_worker

    settings = _settings(args)
    settings.check()
    with _store(settings) as store:
        if settings.redis_url:
            from cartwise.rq_jobs import run_worker

            print(f"cartwise worker: RQ queue on {_redacted(settings.redis_url)}", file=sys.stderr)
            run_worker(settings, store, burst=args.burst)
            return 0
        worker = build_worker(store, settings)
        if args.burst:
            worker.drain(timeout=3600)
            return 0
        print("cartwise worker: the database queue (no CARTWISE_REDIS_URL)", file=sys.stderr)

        def stop(_signum: int, _frame: object) -> None:
            worker.stop(timeout=0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run()
    return 0


def _redacted(url: str) -> str:
    """`url` without its password, for a log line."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _cmd_demo(args: argparse.Namespace) -> int:
    from cartwise.domain import Platform, ShopRef
    from cartwise.training import train_shop

    settings = _settings(args).model_copy(update={"demo_mode": True})
    shop = settings.demo_shop
    with _store(settings) as store:
        if store.shops.get(shop) is None or store.orders.count(shop) == 0:
            print(f"importing the sample store into {shop} ...", file=sys.stderr)
            with ExitStack() as stack:
                base = resources.files("cartwise") / "sample_data"
                orders = stack.enter_context(resources.as_file(base / "orders.csv.gz"))
                products = stack.enter_context(resources.as_file(base / "products.csv"))
                report = _import(store, ShopRef(shop, Platform.DEMO), orders, products)
            print(
                f"imported {report.products} products and {report.orders} orders into {shop}",
                file=sys.stderr,
            )
        if store.models.latest_version(shop) is None:
            print(f"training {shop} ...", file=sys.stderr)
            trained = train_shop(store, shop)
            print(
                f"model version {trained.version}: {trained.n_items} items, "
                f"{trained.n_orders} orders, fit {trained.fit_seconds:.2f}s",
                file=sys.stderr,
            )
        if args.no_serve:
            print(f"demo shop {shop} is ready in {store.url}")
            return 0
        _run(settings, store, args.host, args.port)
    return 0


def _run(settings: Settings, store: Store, host: str | None, port: int | None) -> None:
    from cartwise.api import create_app
    from cartwise.api.server import run

    host = host or settings.server.host
    port = port or settings.server.port
    settings.check()
    # each server worker opens its own pool after the fork, on the same database
    settings = settings.model_copy(update={"database_url": settings.resolved_database_url()})
    store.close()
    print(f"cartwise is serving on http://{host}:{port}/ (Ctrl+C to stop)")
    sys.stdout.flush()
    run(
        lambda: create_app(settings),
        host=host,
        port=port,
        workers=settings.server.workers,
        threads=settings.server.threads,
    )
