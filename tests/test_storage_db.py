"""storage.db: engines, migrations, sessions and error mapping, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlmodel import SQLModel, select

from storage.db import (
    current_revision,
    database_label,
    head_revision,
    locked_connection,
    make_engine,
    migrate,
    session_scope,
)
from storage.errors import DatabaseUnavailableError, MigrationError, StorageError
from storage.models import FetchLog, Item, ItemBand, ItemSource, Source

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"source", "item", "item_source", "item_band", "fetch_log", "classification", "label",
          "delivery", "alert_event", "alert_cursor", "known_country", "model_version"}
REFUSED_PG_URL = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test?connect_timeout=3"


def _table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _version_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]


def _add_source(engine: Engine, name: str = "who") -> int:
    with session_scope(engine) as session:
        source = Source(name=name, url=f"https://example.org/{name}.xml")
        session.add(source)
        session.flush()
        assert source.id is not None
        return source.id


# --------------------------------------------------------------------------- migrations


def test_migrate_creates_every_table_and_is_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        assert not _table_names(engine) & TABLES

        migrate(engine)
        assert _table_names(engine) == TABLES | {"alembic_version"}
        assert current_revision(engine) == head_revision()

        source_id = _add_source(engine)
        migrate(engine)  # a no-op: nothing dropped, one version row
        assert _version_rows(engine) == [head_revision()]
        with session_scope(engine) as session:
            assert session.get(Source, source_id) is not None
    finally:
        engine.dispose()


def test_head_revision_is_a_known_single_head() -> None:
    head = head_revision()
    assert isinstance(head, str)
    assert head
    assert head == head_revision()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_named_unique_constraints_and_indexes_exist(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    uniques = {uc["name"] for table in TABLES for uc in inspector.get_unique_constraints(table)}
    assert {"uq_source_name", "uq_item_canonical_url", "uq_item_source_guid"} <= uniques
    indexes = {ix["name"] for table in TABLES for ix in inspector.get_indexes(table)}
    assert {
        "ix_item_status_created",
        "ix_item_source_item",
        "ix_item_band_lookup",
        "ix_fetch_log_source_started",
        "ix_source_next_attempt_at",
        "ix_item_published_at",
    } <= indexes
    fks = {
        (fk["constrained_columns"][0], fk["referred_table"], fk["options"].get("ondelete"))
        for fk in inspector.get_foreign_keys("item_source")
    }
    assert fks == {("item_id", "item", "CASCADE"), ("source_id", "source", "CASCADE")}


def test_migrate_refuses_a_revision_it_does_not_know(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff_future'")
    with pytest.raises(MigrationError, match=r"ffff_future.*does not know"):
        migrate(engine)


def test_failed_migration_raises_migration_error_and_leaves_nothing_behind(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:  # a stray table blocks CREATE TABLE source
            conn.exec_driver_sql("CREATE TABLE source (id INTEGER PRIMARY KEY)")
        with pytest.raises(MigrationError, match="cannot migrate") as info:
            migrate(engine)
        assert info.value.__cause__ is not None
        # The whole upgrade was one transaction: no half-built schema.
        assert _table_names(engine) == {"source"}
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_migrate_waits_for_the_migration_lock(db_url: str) -> None:
    holder = make_engine(db_url)
    waiter = make_engine(db_url)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(waiter)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    try:
        with locked_connection(holder):
            thread.start()
            time.sleep(0.7)
            assert thread.is_alive(), "migrate did not wait for the lock"
            assert current_revision(holder) is None
        thread.join(timeout=20)
        assert not thread.is_alive()
        assert errors == []
        assert current_revision(holder) == head_revision()
    finally:
        thread.join(timeout=20)
        holder.dispose()
        waiter.dispose()


_CHILD = """
import sys, time, pathlib
from storage.db import make_engine, migrate
url, ready, go = sys.argv[1:4]
engine = make_engine(url)
pathlib.Path(ready).touch()
deadline = time.monotonic() + 20
while not pathlib.Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.002)
migrate(engine)
engine.dispose()
"""


def test_two_processes_migrate_the_same_fresh_database(db_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    readies = [tmp_path / f"ready{i}" for i in range(2)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, db_url, str(ready), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    try:
        deadline = time.monotonic() + 20
        while not all(ready.exists() for ready in readies):
            assert time.monotonic() < deadline, "children did not start"
            assert all(child.poll() is None for child in children), "a child died early"
            time.sleep(0.01)
        go.touch()
        results = [child.communicate(timeout=40) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    engine = make_engine(db_url)
    try:
        assert _version_rows(engine) == [head_revision()]
        assert _table_names(engine) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_alembic_command_line_with_the_ini_file(sqlite_url: str) -> None:
    ini = str(ROOT / "storage" / "alembic.ini")
    for args in (["upgrade", "head"], ["check"], ["current"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", ini, "-x", f"url={sqlite_url}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    assert head_revision() in done.stdout
    engine = make_engine(sqlite_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- engine


def test_sqlite_pragmas_are_in_force_in_every_thread(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    pragmas = ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")

    def read() -> list[object]:
        with engine.connect() as conn:
            return [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in pragmas]

    try:
        expected = ["wal", 1, 30000, 1]  # synchronous NORMAL == 1
        assert read() == expected
        # The pooled connection made in this thread is reused in another one.
        seen: list[list[object]] = []
        worker = threading.Thread(target=lambda: seen.append(read()))
        worker.start()
        worker.join(timeout=10)
        assert seen == [expected]
    finally:
        engine.dispose()


def test_sqlite_engine_creates_the_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "monitor.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
        assert path.is_file()
    finally:
        engine.dispose()


def test_sqlite_path_under_a_regular_file_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(DatabaseUnavailableError, match="cannot create the directory") as info:
        make_engine(f"sqlite:///{blocker / 'sub' / 'monitor.db'}")
    assert isinstance(info.value.__cause__, OSError)


def test_in_memory_sqlite_is_shared_between_threads() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate(engine)
        names: list[set[str]] = []
        worker = threading.Thread(target=lambda: names.append(_table_names(engine)))
        worker.start()
        worker.join(timeout=10)
        assert names == [TABLES | {"alembic_version"}]
    finally:
        engine.dispose()


def test_invalid_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="invalid database URL"):
        make_engine("not a url")
    with pytest.raises(StorageError, match="cannot use database URL"):
        make_engine("nosuchdb+driver://host/db")


# --------------------------------------------------------------------------- sessions


def test_session_scope_commits_on_success(engine: Engine) -> None:
    source_id = _add_source(engine, "moh")
    with session_scope(engine) as session:
        found = session.exec(select(Source).where(Source.name == "moh")).one()
    assert found.id == source_id
    assert found.url == "https://example.org/moh.xml"  # usable after the block


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), session_scope(engine) as session:
        session.add(Source(name="ghost", url="https://example.org/ghost"))
        session.flush()
        raise Boom
    with session_scope(engine) as session:
        assert session.exec(select(Source)).all() == []


def test_integrity_errors_are_not_disguised(engine: Engine) -> None:
    _add_source(engine, "dup")
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Source(name="dup", url="https://example.org/other"))
    with session_scope(engine) as session:
        assert len(session.exec(select(Source)).all()) == 1


def test_foreign_keys_are_enforced_and_cascade(engine: Engine) -> None:
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(FetchLog(source_id=12345, started_at=datetime.now(UTC), outcome="ok"))
    source_id = _add_source(engine)
    with session_scope(engine) as session:
        item = Item(canonical_url="https://example.org/a", url="https://example.org/a?x")
        session.add(item)
        session.flush()
        assert item.id is not None
        session.add(ItemSource(item_id=item.id, source_id=source_id, guid="g1"))
        session.add(ItemBand(item_id=item.id, band=0, value=2**62))
        session.add(FetchLog(source_id=source_id, started_at=datetime.now(UTC), outcome="ok"))
    with session_scope(engine) as session:
        assert session.exec(select(ItemBand)).one().value == 2**62  # BigInteger
        session.delete(session.get(Source, source_id))
    with session_scope(engine) as session:
        assert session.exec(select(ItemSource)).all() == []
        assert session.exec(select(FetchLog)).all() == []
        assert len(session.exec(select(Item)).all()) == 1


def test_utc_datetimes_round_trip_as_aware_utc(engine: Engine) -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2025, 3, 30, 1, 45, 12, 123456, tzinfo=kolkata)
    with session_scope(engine) as session:
        source = Source(name="tz", url="https://example.org/tz", last_attempt_at=moment)
        session.add(source)
        session.flush()
        source_id = source.id
    with session_scope(engine) as session:
        back = session.get(Source, source_id)
        assert back is not None
        value = back.last_attempt_at
    assert value is not None
    assert value == moment
    assert value.utcoffset() == timedelta(0)
    assert (value.year, value.month, value.day, value.hour, value.minute) == (2025, 3, 29, 20, 15)
    assert value.microsecond == 123456


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    naive = datetime(2025, 1, 1)
    with (
        pytest.raises(StatementError, match="naive datetime") as info,
        session_scope(engine) as session,
    ):
        session.add(Source(name="naive", url="https://example.org/n", last_attempt_at=naive))
    assert isinstance(info.value.orig, ValueError)
    with session_scope(engine) as session:
        assert session.exec(select(Source)).all() == []


# --------------------------------------------------------------------------- unavailability


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Engine:
    engine = make_engine(sqlite_url)
    migrate(engine)
    return engine


def test_full_sqlite_disk_is_database_unavailable(sqlite_engine: Engine) -> None:
    try:
        with (
            pytest.raises(DatabaseUnavailableError, match="database or disk is full") as info,
            session_scope(sqlite_engine) as session,
        ):
            conn = session.connection()
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
            conn.exec_driver_sql(f"PRAGMA max_page_count = {int(pages or 0) + 2}")
            for n in range(100):
                session.add(Item(canonical_url=f"u{n}", url=f"u{n}", text="x" * 50_000))
                session.flush()
        assert isinstance(info.value.__cause__, OperationalError)
    finally:
        sqlite_engine.dispose()  # max_page_count is per connection
    with session_scope(sqlite_engine) as session:
        assert session.exec(select(Item)).all() == []


def test_locked_sqlite_is_database_unavailable(sqlite_engine: Engine) -> None:
    try:
        with (
            locked_connection(sqlite_engine),  # another writer holds the lock
            pytest.raises(DatabaseUnavailableError, match="database is locked"),
            session_scope(sqlite_engine) as session,
        ):
            session.connection().exec_driver_sql("PRAGMA busy_timeout = 50")
            session.add(Source(name="late", url="https://example.org/late"))
    finally:
        sqlite_engine.dispose()


def test_read_only_sqlite_is_database_unavailable(sqlite_url: str, tmp_path: Path) -> None:
    writer = make_engine(sqlite_url)
    migrate(writer)
    path = tmp_path / "monitor.db"
    reader = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with session_scope(reader) as session:  # reading works
            assert session.exec(select(Source)).all() == []
        with (
            pytest.raises(DatabaseUnavailableError, match="readonly"),
            session_scope(reader) as session,
        ):
            session.add(Source(name="ro", url="https://example.org/ro"))
    finally:
        reader.dispose()
        writer.dispose()


def test_refused_postgres_connection_is_database_unavailable() -> None:
    engine = make_engine(REFUSED_PG_URL)  # lazy: no connection yet
    try:
        with (
            pytest.raises(DatabaseUnavailableError) as info,
            session_scope(engine) as session,
        ):
            session.exec(select(Source)).all()
        assert isinstance(info.value.__cause__, OperationalError)
        assert "s3cret" not in str(info.value)
        assert "127.0.0.1:1" in str(info.value)
        with pytest.raises(DatabaseUnavailableError):
            current_revision(engine)
        with pytest.raises(DatabaseUnavailableError):
            migrate(engine)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("url", "label"),
    [
        (
            "postgresql+psycopg://monitor:hunter2@db.example.org:5432/monitor",
            "postgresql+psycopg://monitor:***@db.example.org:5432/monitor",
        ),
        (
            "postgresql+psycopg://postgres@127.0.0.1/test",
            "postgresql+psycopg://postgres@127.0.0.1/test",
        ),
        ("sqlite:///data/monitor.db", "sqlite:///data/monitor.db"),
        ("postgresql://u@h/db?password=hunter2", "postgresql://u@h/db?password=***"),
        ("weird://u:hunter2@h/db with spaces", "weird://u:***@h/db with spaces"),
    ],
)
def test_database_label_masks_the_password(url: str, label: str) -> None:
    assert database_label(url) == label
    assert "hunter2" not in database_label(url)
