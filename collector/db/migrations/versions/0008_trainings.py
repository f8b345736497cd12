"""trainings ledger (issue 7, A9-M2.3): trainings, their attendees and materials

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 13:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import collector.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trainings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="technical", nullable=False),
        sa.Column("trainer", sa.String(length=128), server_default="", nullable=False),
        sa.Column("location", sa.String(length=128), server_default="", nullable=False),
        sa.Column("hours", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", collector.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", collector.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_trainings_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trainings")),
    )
    with op.batch_alter_table("trainings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trainings_held_on"), ["held_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_trainings_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "training_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("training_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["trainings.id"],
            name=op.f("fk_training_units_training_id_trainings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_training_units_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_units")),
        sa.UniqueConstraint("training_id", "unit_id", name=op.f("uq_training_units_training_id")),
    )
    with op.batch_alter_table("training_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_units_training_id"), ["training_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_units_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "training_attendees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("training_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("hours", sa.Float(), nullable=True),
        sa.Column("attended", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["trainings.id"],
            name=op.f("fk_training_attendees_training_id_trainings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_training_attendees_unit_id_units")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_training_attendees_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_attendees")),
        sa.UniqueConstraint("training_id", "unit_id", "name", name=op.f("uq_training_attendees_training_id")),
    )
    with op.batch_alter_table("training_attendees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_attendees_training_id"), ["training_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_attendees_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "training_materials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("training_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("uploaded_at", collector.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["trainings.id"],
            name=op.f("fk_training_materials_training_id_trainings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_materials")),
    )
    with op.batch_alter_table("training_materials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_materials_training_id"), ["training_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_materials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_materials_training_id"))

    op.drop_table("training_materials")
    with op.batch_alter_table("training_attendees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_attendees_unit_id"))
        batch_op.drop_index(batch_op.f("ix_training_attendees_training_id"))

    op.drop_table("training_attendees")
    with op.batch_alter_table("training_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_units_unit_id"))
        batch_op.drop_index(batch_op.f("ix_training_units_training_id"))

    op.drop_table("training_units")
    with op.batch_alter_table("trainings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trainings_unit_id"))
        batch_op.drop_index(batch_op.f("ix_trainings_held_on"))

    op.drop_table("trainings")
