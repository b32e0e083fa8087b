"""End-to-end tests of the `cartwise` command through `main([...])`, on temporary SQLite files."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import cartwise.api.server
from cartwise import storage
from cartwise.cli import main
from cartwise.storage import migrate
from cartwise.storage.engine import make_engine

SHOP = "shop.example"
ORDERS_HEADER = "order_id,customer_id,product_id,quantity,price,created_at\n"
PRODUCTS = (
    "product_id,title,category,vendor,price,tags\n"
    "mug,Blue mug,,,5.0,\n"
    "saucer,Blue saucer,,,3.0,\n"
    "pen,Pen,,,1.0,\n"
    "pad,Note pad,,,2.0,\n"
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CARTWISE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def db(sqlite_url: str) -> str:
    return sqlite_url


def _write_files(folder: Path, bad_rows: int = 0) -> tuple[Path, Path]:
    rows = []
    for i in range(10):
        pair = ("mug", "saucer") if i % 2 == 0 else ("pen", "pad")
        rows += [f"o{i},c{i % 3},{pid},1,1.0,2011-03-{i + 1:02d}T10:00:00\n" for pid in pair]
    rows += [f"x{i},,mug,many,1.0,2011-03-01T10:00:00\n" for i in range(bad_rows)]
    orders = folder / "orders.csv"
    orders.write_text(ORDERS_HEADER + "".join(rows), encoding="utf-8")
    products = folder / "products.csv"
    products.write_text(PRODUCTS, encoding="utf-8")
    return orders, products


@pytest.fixture
def imported(tmp_path: Path, db: str) -> str:
    _write_files(tmp_path)
    assert main(["--database-url", db, "import", "--shop", SHOP, "--data", str(tmp_path)]) == 0
    return db


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("import", "backfill", "train", "recommend", "evaluate", "serve", "demo", "db"):
        assert command in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: cartwise" in capsys.readouterr().err


def test_import_reports_bad_rows_and_succeeds(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    orders, products = _write_files(tmp_path, bad_rows=23)
    args = ["import", "--shop", SHOP, "--orders", str(orders), "--products", str(products)]
    code = main([*args, "--database-url", db])

    assert code == 0
    out, err = capsys.readouterr()
    assert "orders.csv line 22: quantity 'many' is not a number" in err
    assert "orders.csv line 41:" in err
    assert "orders.csv line 42:" not in err
    assert "... and 3 more bad rows" in err
    assert "10 orders (20 lines), 23 bad rows skipped" in out
    with storage.open(db) as store:
        assert store.orders.count(SHOP) == 10


def test_import_fatal_error_exits_2_without_traceback(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, products = _write_files(tmp_path)
    missing = tmp_path / "nope.csv"
    files = ["--orders", str(missing), "--products", str(products)]
    code = main(["--database-url", db, "import", "--shop", SHOP, *files])

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {missing}: no such file")
    assert "Traceback" not in err
    with storage.open(db) as store:
        assert store.shops.list() == []


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--orders", "o.csv"], id="products-missing"),
        pytest.param(["--data", ".", "--orders", "o.csv"], id="both-ways"),
    ],
)
def test_import_needs_both_files(
    extra: list[str], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", db, "import", "--shop", SHOP, *extra]) == 2
    assert capsys.readouterr().err.startswith("error: give ")


def test_train_then_recommend(imported: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--shop", SHOP, "--database-url", imported]) == 0
    assert "model version 1 trained on 10 orders" in capsys.readouterr().out

    assert main(["recommend", "--shop", SHOP, "--cart", "mug", "--database-url", imported]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rank", "product_id", "title", "score", "reason"]
    assert lines[1].split()[:4] == ["1", "saucer", "Blue", "saucer"]

    query = ["--shop", SHOP, "--cart", "pen, ", "-k", "2", "--json"]
    code = main(["--database-url", imported, "recommend", *query])
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["model_version"] == 1
    first = body["recommendations"][0]
    assert (first["rank"], first["product_id"], first["title"]) == (1, "pad", "Note pad")
    assert isinstance(first["score"], float) and first["reason"]
    assert len(body["recommendations"]) <= 2


def test_recommend_warns_about_unknown_cart_products(
    imported: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", imported, "train", "--shop", SHOP]) == 0
    assert main(["--database-url", imported, "recommend", "--shop", SHOP, "--cart", "zz"]) == 0
    assert "note: product 'zz' is not in the catalog" in capsys.readouterr().err


def test_recommend_before_training(imported: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", imported, "recommend", "--shop", SHOP, "--cart", "mug"]) == 2
    assert "has no model yet: run `cartwise train --shop shop.example`" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "recommend"])
def test_unknown_shop(command: str, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", db, command, "--shop", "nowhere.example"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown shop 'nowhere.example'")


def test_bad_k_is_a_usage_error(imported: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", imported, "recommend", "--shop", SHOP, "-k", "0"]) == 2
    assert "0 is not between 1 and 100" in capsys.readouterr().err


def test_empty_shop_is_a_usage_error(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", db, "train", "--shop", " "]) == 2
    assert "the shop domain is empty" in capsys.readouterr().err


def test_invalid_settings_are_reported(
    monkeypatch: pytest.MonkeyPatch, imported: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARTWISE_SERVER__PORT", "not-a-port")
    assert main(["--database-url", imported, "train", "--shop", SHOP]) == 2
    assert capsys.readouterr().err.startswith("error: invalid settings: server.port:")


def test_bad_database_url_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", "nosuchdb://x", "train", "--shop", SHOP]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_evaluate_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--data", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nope'}: no such directory\n"


def test_evaluate_the_bundled_sample(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cartwise.evaluation")
    with resources.as_file(resources.files("cartwise") / "sample_data") as folder:
        assert main(["evaluate", "--data", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert isinstance(report, dict) and report


class _FakeServer:
    """Stands in for `cartwise.api.server.run` (gunicorn): records the call, builds the app the
    way a worker would, and does not listen."""

    def __init__(self, raises: BaseException | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.raises = raises

    def __call__(self, factory: Any, **options: Any) -> None:
        self.calls.append({"app": factory(), **options})
        if self.raises is not None:
            raise self.raises


def test_serve_runs_the_app_under_the_server(
    monkeypatch: pytest.MonkeyPatch, imported: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _FakeServer()
    monkeypatch.setattr(cartwise.api.server, "run", server)

    assert main(["--database-url", imported, "serve", "--host", "0.0.0.0", "--port", "8123"]) == 0

    (call,) = server.calls
    assert (call["host"], call["port"], call["workers"]) == ("0.0.0.0", 8123, 1)
    assert call["app"].test_client().get("/healthz").status_code == 200
    assert "http://0.0.0.0:8123/" in capsys.readouterr().out


def test_serve_interrupted(
    monkeypatch: pytest.MonkeyPatch, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cartwise.api.server, "run", _FakeServer(KeyboardInterrupt()))
    assert main(["--database-url", db, "serve"]) == 130
    assert capsys.readouterr().err == ""


def test_serve_on_a_busy_port_says_so(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--database-url", db, "serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 127.0.0.1:" in err and "Traceback" not in err


def test_serve_outside_demo_mode_needs_a_secret_key(
    monkeypatch: pytest.MonkeyPatch, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARTWISE_DEMO_MODE", "false")
    monkeypatch.delenv("CARTWISE_SECRET_KEY", raising=False)
    monkeypatch.setattr(cartwise.api.server, "run", _FakeServer())
    assert main(["--database-url", db, "serve"]) == 2
    err = capsys.readouterr().err
    assert "CARTWISE_SECRET_KEY" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A working directory where `cartwise demo --no-serve` ran once with nothing configured."""
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CARTWISE_"):
                patch.delenv(name)
        patch.chdir(folder)
        assert main(["demo", "--no-serve"]) == 0
        yield folder


def test_demo_imports_and_trains_the_sample(demo_dir: Path) -> None:
    with storage.open(f"sqlite:///{demo_dir / 'cartwise.db'}") as store:
        shop = store.shops.get("demo.cartwise.local")
        assert shop is not None and shop.platform == "demo"
        assert store.products.count(shop.domain) == 500
        assert store.orders.count(shop.domain) == 4080
        assert store.models.latest_version(shop.domain) == 1


def test_demo_again_reuses_the_store_and_serves(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(demo_dir)
    server = _FakeServer()
    monkeypatch.setattr(cartwise.api.server, "run", server)

    assert main(["demo", "--port", "8765"]) == 0

    out, err = capsys.readouterr()
    assert "importing" not in err and "training" not in err
    assert "http://127.0.0.1:8765/" in out
    (call,) = server.calls
    assert call["app"].test_client().get("/").status_code == 200
    with storage.open(f"sqlite:///{demo_dir / 'cartwise.db'}") as store:
        assert store.models.latest_version("demo.cartwise.local") == 1


def test_recommend_on_the_demo_shop(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(demo_dir)
    code = main(
        ["recommend", "--shop", "demo.cartwise.local", "--cart", "22423", "-k", "5", "--json"]
    )
    assert code == 0
    recs = json.loads(capsys.readouterr().out)["recommendations"]
    assert len(recs) == 5
    assert all(r["title"] and r["product_id"] != "22423" for r in recs)


def test_db_upgrade_current_and_check(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARTWISE_DATABASE_URL", db)
    head = migrate.head()

    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == f"none (head is {head})\n"
    assert main(["db", "check"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("run `cartwise db upgrade`\n")

    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"{db}: upgraded from none to {head}\n"
    assert main(["db", "check"]) == 0
    assert capsys.readouterr().out == f"{db}: at revision {head}, up to date\n"
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == f"{head} (head)\n"
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"{db}: already at revision {head}\n"


def test_db_upgrade_adopts_a_database_made_before_migrations(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate.upgrade(db, migrate.BASELINE)
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # as create_all left it
    engine.dispose()

    assert main(["--database-url", db, "db", "upgrade"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{db}: tables made before migrations, stamped at {migrate.BASELINE}"
    head, base = migrate.head(), migrate.BASELINE
    assert lines[1:] == ([] if head == base else [f"{db}: upgraded from {base} to {head}"])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["db", "upgrade", "--revision", "nosuch"], "cannot upgrade", id="revision"),
        pytest.param(["db", "revision", "-m", "nothing"], "nothing to generate", id="no-change"),
        pytest.param(["db"], "required: COMMAND", id="no-subcommand"),
    ],
)
def test_db_errors_are_one_line(
    argv: list[str], expected: str, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", db, *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["upgrade", "current", "check"])
def test_db_on_an_unreachable_database(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://user:hunter2@127.0.0.1:1/nothing?connect_timeout=2"
    assert main(["--database-url", url, "db", command]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: database error while ") and err.count("\n") == 1
    assert "hunter2" not in err


def test_auto_migrate_off_leaves_sqlite_to_db_upgrade(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARTWISE_AUTO_MIGRATE", "false")
    assert main(["--database-url", db, "train", "--shop", SHOP]) == 2
    assert capsys.readouterr().err.endswith("run `cartwise db upgrade`\n")


@pytest.mark.postgres
def test_postgresql_is_migrated_by_db_upgrade_or_when_the_setting_says_so(
    empty_postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    train = ["--database-url", empty_postgres_url, "train", "--shop", SHOP]
    assert main(train) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the database postgresql") and "`cartwise db upgrade`" in err

    monkeypatch.setenv("CARTWISE_AUTO_MIGRATE", "true")
    assert main(train) == 2
    assert capsys.readouterr().err.startswith("error: unknown shop")
    assert main(["--database-url", empty_postgres_url, "db", "check"]) == 0
