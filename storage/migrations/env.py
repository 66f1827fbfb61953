"""Alembic environment of ``storage``.

At run time :func:`storage.db.migrate` passes an open, locked connection in
``config.attributes["connection"]``; no ini file is involved.

For developers, the ``alembic`` command works with ``storage/alembic.ini``; the
database URL comes from ``-x url=...``, else ``MONITOR_DATABASE_URL``, else
``sqlalchemy.url`` in the ini file::

    MONITOR_DATABASE_URL=sqlite:///data/dev.db \\
        alembic -c storage/alembic.ini upgrade head
    alembic -c storage/alembic.ini -x url=sqlite:///data/dev.db \\
        revision --autogenerate --rev-id 0002 -m "add item score"

Autogenerate renders :class:`storage.models.UTCDateTime` as
``sa.DateTime(timezone=True)`` and SQLModel's ``AutoString`` as ``sa.String``, so the
migration files depend on SQLAlchemy only. Review every generated file: it must run
on SQLite and on PostgreSQL (``render_as_batch`` is on for SQLite).
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import locked_connection, make_engine
from storage.models import UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the project's column types with plain SQLAlchemy types."""
    if type_ == "type":
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        if isinstance(obj, AutoString):
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "render_item": render_item,
    }


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("MONITOR_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit(
            "no database URL: pass -x url=..., set MONITOR_DATABASE_URL "
            "or sqlalchemy.url in the ini file"
        )
    return url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: write the SQL instead of running it."""
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(url.split(":", 1)[0].split("+", 1)[0]),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        # Called by storage.db.migrate, which holds the lock and the transaction.
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with locked_connection(engine) as locked:
            _run(locked)
    finally:
        engine.dispose()


if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
