"""The engine factory, the schema migrations and the unit of work.

* :func:`make_engine` builds an engine for a SQLite file or a PostgreSQL server,
  configured for a multi-threaded service (WAL, busy timeout and foreign keys on
  SQLite; pre-ping on PostgreSQL).
* :func:`migrate` brings the schema to the Alembic head, programmatically, under a
  lock, so it is safe to call at every start and from several processes at once.
* :func:`session_scope` is the unit of work: commit on success, rollback on error,
  and a :class:`~storage.errors.DatabaseUnavailableError` when the database cannot
  be reached or written (locked, full, read-only, connection refused).

Nothing here does any work at import time.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import Session

from storage.errors import DatabaseUnavailableError, MigrationError, StorageError

__all__ = [
    "MIGRATIONS_DIR",
    "MIGRATION_LOCK_KEY",
    "current_revision",
    "database_label",
    "head_revision",
    "is_unavailable",
    "locked_connection",
    "make_engine",
    "migrate",
    "session_scope",
]

#: The Alembic script directory shipped inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

#: The PostgreSQL advisory lock (per database) held while migrating.
MIGRATION_LOCK_KEY = 0x6863_6D6F_6E69_7472  # "hcmonitr"

#: Seconds a SQLite connection waits for a lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 30.0

_SQLITE_WAL = "PRAGMA journal_mode=WAL"
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}",
    "PRAGMA foreign_keys=ON",
    _SQLITE_WAL,
    "PRAGMA synchronous=NORMAL",
)

# Messages of OperationalError meaning "cannot reach or write the database".
_UNAVAILABLE_MESSAGES = (
    # SQLite
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "database or disk is full",
    "attempt to write a readonly database",
    "unable to open database file",
    # PostgreSQL / network
    "connection refused",
    "connection failed",
    "could not connect",
    "connection to server",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "connection already closed",
    "no route to host",
    "network is unreachable",
    "timeout expired",
    "could not translate host name",
    "name or service not known",
    "no space left on device",
)

# SQLSTATE prefixes of PostgreSQL errors meaning the same thing.
_UNAVAILABLE_SQLSTATES = (
    "08",  # connection exception
    "53",  # insufficient resources: disk full, out of memory, too many connections
    "57P",  # operator intervention: shutdown, cannot connect now, database dropped
    "58",  # system error: I/O error
    "25006",  # read-only SQL transaction (a hot standby)
)


# --------------------------------------------------------------------------- labels


def database_label(url: str) -> str:
    """``url`` with its password masked (``***``), for logs and status output."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Not a URL SQLAlchemy understands: mask anything that looks like a password.
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
    label = parsed.render_as_string(hide_password=True)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", label, flags=re.IGNORECASE)


def _label(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


# --------------------------------------------------------------------------- engine


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    SQLite: the parent directory of the file is created; every connection gets
    ``journal_mode=WAL``, ``busy_timeout=30000``, ``foreign_keys=ON`` and
    ``synchronous=NORMAL``; connections may be used from any thread. An in-memory
    database (``sqlite://``) is one connection shared by every thread.

    PostgreSQL: connections are pinged before use. ``postgresql://`` and
    ``postgres://`` mean the psycopg 3 driver.

    Raises :class:`StorageError` for a URL that cannot be used and
    :class:`DatabaseUnavailableError` when the SQLite directory cannot be created.
    """
    try:
        sa_url = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"invalid database URL {database_label(url)!r}: {exc}") from exc
    if sa_url.drivername in ("postgresql", "postgres"):
        sa_url = sa_url.set(drivername="postgresql+psycopg")
    if sa_url.get_backend_name() == "sqlite":
        return _make_sqlite_engine(sa_url, echo=echo)
    try:
        return create_engine(sa_url, echo=echo, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        hint = ""
        if isinstance(exc, ImportError) and sa_url.get_backend_name() == "postgresql":
            hint = " (install the driver: pip install 'health-coop-monitor[postgres]')"
        raise StorageError(f"cannot use database URL {database_label(url)!r}: {exc}{hint}") from exc


def _sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    is_uri = str(url.query.get("uri", "")).lower() in ("true", "1")
    if is_uri:
        if str(url.query.get("mode", "")) == "memory":
            return None
        database = database.removeprefix("file:").split("?", 1)[0]
    if database in ("", ":memory:"):
        return None
    return Path(database).expanduser()


def _make_sqlite_engine(url: URL, *, echo: bool) -> Engine:
    path = _sqlite_path(url)
    kwargs: dict[str, Any] = {}
    if path is None:
        kwargs["poolclass"] = StaticPool
    else:
        if url.database and url.database.startswith("~"):
            url = url.set(database=str(path))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailableError(
                f"cannot create the directory of the SQLite database {str(path)!r}: {exc}"
            ) from exc
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        **kwargs,
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            if pragma == _SQLITE_WAL:
                _retry_while_locked(lambda: cursor.execute(_SQLITE_WAL))
            else:
                cursor.execute(pragma)
    finally:
        cursor.close()


def _retry_while_locked(action: Callable[[], object]) -> None:
    """Run ``action``, retrying while SQLite says the database is locked.

    Switching a fresh file to WAL needs an exclusive lock and SQLite reports
    "database is locked" at once, without calling the busy handler, when another
    connection is doing the same; so wait here, up to the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.002
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


# --------------------------------------------------------------------------- errors


def is_unavailable(exc: BaseException) -> bool:
    """Whether a SQLAlchemy error means the database cannot be reached or written."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    if isinstance(exc, OperationalError):
        message = str(exc.orig).lower()
        return any(marker in message for marker in _UNAVAILABLE_MESSAGES)
    return False


def _unavailable(exc: DBAPIError, label: str) -> DatabaseUnavailableError:
    reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc).__name__
    return DatabaseUnavailableError(f"database {label} is unavailable: {reason}")


# --------------------------------------------------------------------------- sessions


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A SQLModel session: committed when the block succeeds, rolled back otherwise.

    Objects stay usable after the block (``expire_on_commit=False``). An error that
    means the database cannot be reached or written becomes a
    :class:`DatabaseUnavailableError` whose ``__cause__`` is the original error;
    every other exception propagates unchanged.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException as exc:
        with suppress(Exception):
            session.rollback()
        if isinstance(exc, DBAPIError) and is_unavailable(exc):
            raise _unavailable(exc, _label(engine)) from exc
        raise
    finally:
        with suppress(Exception):
            session.close()


# --------------------------------------------------------------------------- migrations


@cache
def _script_directory() -> ScriptDirectory:
    try:
        return ScriptDirectory(str(MIGRATIONS_DIR))
    except CommandError as exc:
        raise MigrationError(
            f"migrations folder {str(MIGRATIONS_DIR)!r} is unusable: {exc}"
        ) from exc


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The revision the code expects (the single head of the migrations)."""
    try:
        head = _script_directory().get_current_head()
    except CommandError as exc:
        raise MigrationError(f"the migrations have no single head: {exc}") from exc
    if head is None:
        raise MigrationError(f"no migration found in {str(MIGRATIONS_DIR)!r}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it has never been migrated."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except CommandError as exc:
        raise MigrationError(f"cannot read the revision of {_label(engine)}: {exc}") from exc
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise _unavailable(exc, _label(engine)) from exc
        raise MigrationError(f"cannot read the revision of {_label(engine)}: {exc}") from exc


@contextmanager
def locked_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that holds the migration lock.

    The transaction is committed when the block succeeds, rolled back otherwise.

    * SQLite: ``BEGIN IMMEDIATE`` (another process waits up to the busy timeout);
      foreign keys are switched off for the block (so that batch-mode table copies
      do not cascade) and ``PRAGMA foreign_key_check`` must be clean before commit.
    * PostgreSQL: ``pg_advisory_xact_lock(MIGRATION_LOCK_KEY)``.

    Used by :func:`migrate` and by ``migrations/env.py`` for the ``alembic`` command.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            with _sqlite_write_lock(connection):
                yield connection
        else:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                yield connection


@contextmanager
def _sqlite_write_lock(connection: Connection) -> Iterator[None]:
    # PRAGMA foreign_keys is a no-op inside a transaction: switch it first.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        # The pysqlite driver leaves DDL outside transactions; begin explicitly.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
            violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if violations:
                raise MigrationError(
                    f"the migration leaves {len(violations)} foreign key violation(s), "
                    f"first: {tuple(violations[0])!r}"
                )
            connection.commit()
        except BaseException:
            with suppress(Exception):
                connection.rollback()
            raise
    finally:
        try:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
        except SQLAlchemyError:
            # Never hand a connection without foreign keys back to the pool.
            connection.invalidate()


def migrate(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database to the Alembic head.

    A no-op when the database is already at the head. Otherwise the upgrade runs in
    one transaction under :func:`locked_connection`, so two processes calling it at
    once are serialised and the second finds nothing to do.

    Raises :class:`DatabaseUnavailableError` when the database cannot be reached or
    written, :class:`MigrationError` for any other failure (unknown revision in the
    database, a failing migration, ...).
    """
    label = _label(engine)
    head = head_revision()
    if current_revision(engine) == head:
        return
    try:
        with locked_connection(engine) as connection:
            _check_known_revision(connection, label)
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except StorageError:
        raise
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise _unavailable(exc, label) from exc
        raise MigrationError(f"cannot migrate {label} to revision {head}: {exc}") from exc
    except Exception as exc:
        raise MigrationError(f"cannot migrate {label} to revision {head}: {exc}") from exc


def _check_known_revision(connection: Connection, label: str) -> None:
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return
    try:
        _script_directory().get_revision(current)
    except (CommandError, RevisionError) as exc:
        raise MigrationError(
            f"database {label} is at revision {current!r}, which this version of the "
            "program does not know (was it migrated by a newer version?)"
        ) from exc
