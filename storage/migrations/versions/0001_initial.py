"""Initial schema: source, item, item_source, item_band, fetch_log.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Mirrors storage/models.py: UTCDateTime columns are ``DateTime(timezone=True)``
(naive UTC text in SQLite, ``timestamptz`` in PostgreSQL); unique constraints are
named so that upserts can name their conflict target. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("interval", sa.Float(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("link_selector", sa.String(length=500), nullable=True),
        sa.Column("link_pattern", sa.String(length=500), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("etag", sa.String(length=512), nullable=True),
        sa.Column("last_modified", sa.String(length=128), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_new_item_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_streak", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_source_name"),
    )
    op.create_index("ix_source_next_attempt_at", "source", ["next_attempt_at"])

    op.create_table(
        "item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("feed_content", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=500), nullable=False),
        sa.Column("sitename", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("language_hint", sa.String(length=8), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("minhash", sa.LargeBinary(), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["duplicate_of_id"], ["item.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("canonical_url", name="uq_item_canonical_url"),
    )
    op.create_index("ix_item_content_hash", "item", ["content_hash"])
    op.create_index("ix_item_duplicate_of_id", "item", ["duplicate_of_id"])
    op.create_index("ix_item_language", "item", ["language"])
    op.create_index("ix_item_published_at", "item", ["published_at"])
    op.create_index("ix_item_status_created", "item", ["status", "created_at"])

    op.create_table(
        "item_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "guid", name="uq_item_source_guid"),
    )
    op.create_index("ix_item_source_item", "item_source", ["item_id"])

    op.create_table(
        "item_band",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "band"),
    )
    op.create_index("ix_item_band_lookup", "item_band", ["band", "value"])

    op.create_table(
        "fetch_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("new_items", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fetch_log_source_started", "fetch_log", ["source_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_fetch_log_source_started", table_name="fetch_log")
    op.drop_table("fetch_log")
    op.drop_index("ix_item_band_lookup", table_name="item_band")
    op.drop_table("item_band")
    op.drop_index("ix_item_source_item", table_name="item_source")
    op.drop_table("item_source")
    for index in (
        "ix_item_status_created",
        "ix_item_published_at",
        "ix_item_language",
        "ix_item_duplicate_of_id",
        "ix_item_content_hash",
    ):
        op.drop_index(index, table_name="item")
    op.drop_table("item")
    op.drop_index("ix_source_next_attempt_at", table_name="source")
    op.drop_table("source")
