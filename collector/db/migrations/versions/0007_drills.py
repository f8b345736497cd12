"""emergency plans and drills (issue 7; A9-M4.1, A9-M4.2, A9-M4.3)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 13:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import collector.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table('emergency_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', collector.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_emergency_plans_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_plans')),
    sa.UniqueConstraint('unit_id', name=op.f('uq_emergency_plans_unit_id'))
    )
    op.create_table('plan_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='draft', nullable=False),
    sa.Column('content', _json(), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', collector.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('updated_at', collector.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('approved_at', collector.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('superseded_at', collector.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['emergency_plans.id'], name=op.f('fk_plan_versions_plan_id_emergency_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_versions')),
    sa.UniqueConstraint('plan_id', 'number', name='uq_plan_versions_plan_number')
    )
    op.create_index(op.f('ix_plan_versions_plan_id'), 'plan_versions', ['plan_id'], unique=False)

    op.create_table('drills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('coverage', sa.String(length=16), nullable=False),
    sa.Column('scenario_key', sa.String(length=64), nullable=False),
    sa.Column('scenario', _json(), nullable=False),
    sa.Column('incident_level', sa.String(length=8), nullable=False),
    sa.Column('plan_version_id', sa.Integer(), nullable=False),
    sa.Column('planned_date', sa.Date(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=True),
    sa.Column('participants', _json(), nullable=False),
    sa.Column('targets', _json(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='planned', nullable=False),
    sa.Column('revision', sa.Integer(), server_default='0', nullable=False),
    sa.Column('started_at', collector.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', collector.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', collector.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('went_well', sa.Text(), server_default='', nullable=False),
    sa.Column('review_summary', sa.Text(), server_default='', nullable=False),
    sa.Column('reviewed_at', collector.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('closed_at', collector.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('cancel_reason', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['plan_version_id'], ['plan_versions.id'], name=op.f('fk_drills_plan_version_id_plan_versions')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_drills_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drills'))
    )
    op.create_index(op.f('ix_drills_held_on'), 'drills', ['held_on'], unique=False)
    op.create_index(op.f('ix_drills_plan_version_id'), 'drills', ['plan_version_id'], unique=False)
    op.create_index('ix_drills_unit_date', 'drills', ['unit_id', 'planned_date'], unique=False)

    op.create_table('drill_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('drill_id', sa.Integer(), nullable=False),
    sa.Column('problem', sa.Text(), nullable=False),
    sa.Column('action', sa.Text(), server_default='', nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('concerns_plan', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('resolution', sa.Text(), server_default='', nullable=False),
    sa.Column('resolved_at', collector.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('plan_version_id', sa.Integer(), nullable=True),
    sa.Column('created_at', collector.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['drill_id'], ['drills.id'], name=op.f('fk_drill_actions_drill_id_drills')),
    sa.ForeignKeyConstraint(['plan_version_id'], ['plan_versions.id'], name=op.f('fk_drill_actions_plan_version_id_plan_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drill_actions'))
    )
    op.create_index(op.f('ix_drill_actions_drill_id'), 'drill_actions', ['drill_id'], unique=False)

    op.create_table('drill_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('drill_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('step_key', sa.String(length=64), server_default='', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='', nullable=False),
    sa.Column('inject_key', sa.String(length=64), server_default='', nullable=False),
    sa.Column('text', sa.Text(), server_default='', nullable=False),
    sa.Column('performer', sa.String(length=64), server_default='', nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('at', collector.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('received_at', collector.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['drill_id'], ['drills.id'], name=op.f('fk_drill_events_drill_id_drills')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_drill_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drill_events')),
    sa.UniqueConstraint('drill_id', 'client_id', name='uq_drill_events_drill_client')
    )
    op.create_index(op.f('ix_drill_events_drill_id'), 'drill_events', ['drill_id'], unique=False)

    op.create_table('plan_revision_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_version_id', sa.Integer(), nullable=False),
    sa.Column('drill_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['drill_id'], ['drills.id'], name=op.f('fk_plan_revision_sources_drill_id_drills')),
    sa.ForeignKeyConstraint(['plan_version_id'], ['plan_versions.id'], name=op.f('fk_plan_revision_sources_plan_version_id_plan_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_revision_sources')),
    sa.UniqueConstraint('plan_version_id', 'drill_id', name='uq_plan_revision_sources_version_drill')
    )
    op.create_index(op.f('ix_plan_revision_sources_drill_id'), 'plan_revision_sources', ['drill_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_plan_revision_sources_drill_id'), table_name='plan_revision_sources')
    op.drop_table('plan_revision_sources')
    op.drop_index(op.f('ix_drill_events_drill_id'), table_name='drill_events')
    op.drop_table('drill_events')
    op.drop_index(op.f('ix_drill_actions_drill_id'), table_name='drill_actions')
    op.drop_table('drill_actions')
    op.drop_index('ix_drills_unit_date', table_name='drills')
    op.drop_index(op.f('ix_drills_plan_version_id'), table_name='drills')
    op.drop_index(op.f('ix_drills_held_on'), table_name='drills')
    op.drop_table('drills')
    op.drop_index(op.f('ix_plan_versions_plan_id'), table_name='plan_versions')
    op.drop_table('plan_versions')
    op.drop_table('emergency_plans')
