"""data-subject requests: requests, their hits and their record

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("legal_reference", sa.String(500), nullable=False),
        sa.Column("requester_contact", sa.String(500), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("face_image", sa.String(1000)),
        sa.Column("face_descriptor", sa.JSON()),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("closed_at", TZ),
        sa.Column("closed_by", sa.String(120)),
        sa.Column("close_note", sa.Text()),
        sa.Column("job_kind", sa.String(16)),
        sa.Column("job_state", sa.String(16)),
        sa.Column("job_progress", sa.Float(), nullable=False),
        sa.Column("job_detail", sa.JSON(), nullable=False),
        sa.Column("job_error", sa.Text()),
        sa.Column("job_started_at", TZ),
        sa.Column("job_finished_at", TZ),
        sa.Column("job_heartbeat_at", TZ),
        sa.Column("job_cancel", sa.Boolean(), nullable=False),
        sa.Column("export_file", sa.String(1000)),
    )
    op.create_index("ix_subject_requests_status", "subject_requests", ["status", "created_at"])
    op.create_table(
        "subject_request_hits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey("subject_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        # No foreign key: the record of what was found outlives the camera.
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("first_at", TZ, nullable=False),
        sa.Column("last_at", TZ, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("text", sa.String(40)),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.Column("thumbnail", sa.String(1000)),
        sa.Column("selected", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_subject_request_hits_request", "subject_request_hits", ["request_id", "camera_id"]
    )
    op.create_table(
        "subject_request_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "request_id",
            sa.Integer(),
            sa.ForeignKey("subject_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", TZ, nullable=False),
        sa.Column("username", sa.String(120)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_subject_request_entries_request", "subject_request_entries", ["request_id", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_subject_request_entries_request", "subject_request_entries")
    op.drop_table("subject_request_entries")
    op.drop_index("ix_subject_request_hits_request", "subject_request_hits")
    op.drop_table("subject_request_hits")
    op.drop_index("ix_subject_requests_status", "subject_requests")
    op.drop_table("subject_requests")
