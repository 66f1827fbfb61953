"""Database fixtures (a pytest plugin, registered in tests/conftest.py).

* ``sqlite_url``: a fresh SQLite file in ``tmp_path``.
* ``pg_url``: a fresh PostgreSQL database on 127.0.0.1:5432, dropped afterwards;
  skips when the server is unreachable (probed once per session).
* ``db_url``: ``sqlite_url`` or ``pg_url`` (ids ``sqlite`` / ``postgres``; the
  second carries the ``postgres`` marker).
* ``engine``: ``make_engine(db_url)``, migrated to head, disposed afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from storage.db import make_engine, migrate

PG_HOST = os.environ.get("MONITOR_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MONITOR_TEST_PG_PORT", "5432"))
PG_USER = "postgres"
PG_ADMIN_DB = "test"


def pg_admin_dsn() -> str:
    """A libpq DSN of the ``test`` database, for creating and dropping databases."""
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_ADMIN_DB} connect_timeout=3"


def pg_sqlalchemy_url(database: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@pytest.fixture(scope="session")
def pg_unavailable_reason() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=0.5):
            pass
    except OSError as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable: {exc}"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_HOST}:{PG_PORT} refuses us: {exc}"
    return None


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file URL (the file does not exist yet)."""
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
def pg_url(pg_unavailable_reason: str | None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own, dropped after the test."""
    if pg_unavailable_reason is not None:
        pytest.skip(pg_unavailable_reason)
    import psycopg
    from psycopg import sql

    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield pg_sqlalchemy_url(name)
    finally:
        with psycopg.connect(pg_admin_dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL on each backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: Any = request.getfixturevalue(fixture)
    return str(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database migrated to head."""
    eng = make_engine(db_url)
    try:
        migrate(eng)
        yield eng
    finally:
        eng.dispose()
