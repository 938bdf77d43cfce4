"""Callback requests: one row each, pending ones taken up again after a restart

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callbacks',
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('caller', sa.String(length=64), nullable=False),
    sa.Column('pseudonymised', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.Float(), nullable=False),
    sa.Column('arrival', sa.Float(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due', sa.Float(), nullable=True),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('citizen_leg', sa.String(length=64), nullable=True),
    sa.Column('reached_at', sa.Float(), nullable=True),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('ended_by', sa.String(length=100), nullable=True),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('call_id')
    )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.create_index('callbacks_outcome', ['outcome'], unique=False)
        batch_op.create_index('callbacks_requested', ['requested_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index('callbacks_requested')
        batch_op.drop_index('callbacks_outcome')
    op.drop_table('callbacks')
