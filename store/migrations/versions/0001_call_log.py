"""The call log: calls, events, agent states, wrap-ups, configuration versions, audit

Revision ID: 0001
Revises: (the first)
Create Date: 2026-12-02 07:22:35.377111
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_states',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uid', sa.String(length=48), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('cause', sa.String(length=32), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('start_at', sa.Float(), nullable=False),
    sa.Column('end_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.create_index('agent_states_agent', ['agent', 'start_at'], unique=False)

    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uid', sa.String(length=48), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('who', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index('audit_at', ['at'], unique=False)

    op.create_table('calls',
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('arrived_at', sa.Float(), nullable=False),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('caller', sa.String(length=64), nullable=False),
    sa.Column('pseudonymised', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('ivr_path', sa.Text(), nullable=True),
    sa.Column('ivr_keys', sa.String(length=64), nullable=True),
    sa.Column('ivr_outcome', sa.String(length=16), nullable=True),
    sa.Column('first_group', sa.String(length=64), nullable=True),
    sa.Column('group_id', sa.String(length=64), nullable=True),
    sa.Column('offered', sa.Boolean(), nullable=False),
    sa.Column('queued_at', sa.Float(), nullable=True),
    sa.Column('answered_at', sa.Float(), nullable=True),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('waited', sa.Float(), nullable=True),
    sa.Column('talk', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('abandoned_in', sa.String(length=16), nullable=True),
    sa.Column('hung_up_by', sa.String(length=16), nullable=True),
    sa.Column('ended_phase', sa.String(length=16), nullable=True),
    sa.Column('overflow_rule', sa.Text(), nullable=True),
    sa.Column('partner_status', sa.String(length=16), nullable=True),
    sa.Column('offers', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('adopted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('call_id')
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('calls_arrived', ['arrived_at'], unique=False)
        batch_op.create_index('calls_caller', ['caller'], unique=False)
        batch_op.create_index('calls_group_arrived', ['group_id', 'arrived_at'], unique=False)

    op.create_table('config_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uid', sa.String(length=48), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('activated_at', sa.Float(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uid', sa.String(length=48), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('group_id', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('events_at', ['at'], unique=False)
        batch_op.create_index('events_call', ['call_id'], unique=False)

    op.create_table('wrap_ups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uid', sa.String(length=48), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=True),
    sa.Column('resolved', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uid')
    )
    with op.batch_alter_table('wrap_ups', schema=None) as batch_op:
        batch_op.create_index('wrap_ups_call', ['call_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wrap_ups', schema=None) as batch_op:
        batch_op.drop_index('wrap_ups_call')

    op.drop_table('wrap_ups')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('events_call')
        batch_op.drop_index('events_at')

    op.drop_table('events')
    op.drop_table('config_versions')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('calls_group_arrived')
        batch_op.drop_index('calls_caller')
        batch_op.drop_index('calls_arrived')

    op.drop_table('calls')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index('audit_at')

    op.drop_table('audit')
    with op.batch_alter_table('agent_states', schema=None) as batch_op:
        batch_op.drop_index('agent_states_agent')

    op.drop_table('agent_states')
