"""Alembic's entry point for cartwise's migrations, run by `cartwise.storage.migrate`.

That module hands over a connection already inside its (locked) transaction, so nothing here
opens, commits or reads any settings. Imports only `cartwise.storage.schema`.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from cartwise.storage.schema import metadata


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    if kind != "type":
        return False
    # A migration must not import the types of today's schema.py (they may change or vanish):
    # our own column types, like UTCDateTime, are written as the SQLAlchemy type they store as.
    if isinstance(item, TypeDecorator):
        return f"sa.{item.impl_instance!r}"
    # The default rendering, JSONB(astext_type=Text()), names Text without its module.
    if isinstance(item, JSONB):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    return False


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("cartwise migrations run through cartwise.storage.migrate")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters most things only by copying the table: generate that form everywhere.
        render_as_batch=True,
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
