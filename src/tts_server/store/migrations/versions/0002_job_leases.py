"""Jobs any replica can run: a lease (owner, fencing token, expiry on the database's clock) on each
processing job, and a flag for jobs whose audio is relayed to watchers on other replicas.

SQLite also gets indexes on lower(id), which every voice lookup now uses, and its `schema_versions`
table (the per-store versions an earlier server kept) says version 2 for every store, so an earlier
server refuses this data dir ("newer than this server knows") instead of running on tables it does
not understand.

Revision ID: 0002
Revises: 0001
Create Date: 2024-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_EARLIER_STORES = ("voices", "voice_mappings", "jobs", "config")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("lease_owner", sa.Text()))
        jobs.add_column(sa.Column("lease_token", sa.Text()))
        jobs.add_column(sa.Column("lease_expires_at", sa.Float()))
        jobs.add_column(sa.Column("stream_audio", sa.Boolean(), nullable=False, server_default=sa.false()))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE INDEX IF NOT EXISTS reference_voices_by_key ON reference_voices (lower(voice_id))")
        op.execute("CREATE INDEX IF NOT EXISTS voice_mappings_by_key ON voice_mappings (lower(voice_id))")
        op.execute("CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        for name in _EARLIER_STORES:
            op.execute(
                sa.text(
                    "INSERT INTO schema_versions (name, version) VALUES (:name, 2) "
                    "ON CONFLICT(name) DO UPDATE SET version = 2"
                ).bindparams(name=name)
            )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        for column in ("stream_audio", "lease_expires_at", "lease_token", "lease_owner"):
            jobs.drop_column(column)
