"""Outbox: inbound provider ids, outbound messages and their statuses, WhatsApp
windows, recipient opt-outs and dead letters.

Revision ID: 0002_outbox
Revises: 0001_booking
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db

revision = '0002_outbox'
down_revision = '0001_booking'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dead_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbound_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('replayed_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters'))
    )
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dead_letters_outbound_id'), ['outbound_id'], unique=False)

    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('provider_message_id', sa.String(length=128), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('received_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('channel', 'provider_message_id', name=op.f('uq_inbound_messages_channel_provider_message_id'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_received_at'), ['received_at'], unique=False)

    op.create_table('outbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=True),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('reply', sa.JSON(), nullable=False),
    sa.Column('fallback', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('not_before', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('in_reply_to', sa.String(length=128), nullable=True),
    sa.Column('provider_message_id', sa.String(length=128), nullable=True),
    sa.Column('used_fallback', sa.Boolean(), nullable=False),
    sa.Column('lease_until', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('error_reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', bot.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbound_messages_idempotency_key')),
    sa.UniqueConstraint('provider_message_id', name=op.f('uq_outbound_messages_provider_message_id'))
    )
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_messages_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_messages_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_outbound_messages_status_due_at', ['status', 'due_at'], unique=False)

    op.create_table('outbound_statuses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbound_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('provider_message_id', sa.String(length=128), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_statuses')),
    sa.UniqueConstraint('provider_message_id', 'status', name=op.f('uq_outbound_statuses_provider_message_id_status'))
    )
    with op.batch_alter_table('outbound_statuses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_statuses_idempotency_key'), ['idempotency_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_statuses_outbound_id'), ['outbound_id'], unique=False)

    op.create_table('recipient_opt_outs',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('changed_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'recipient', name=op.f('pk_recipient_opt_outs'))
    )
    op.create_table('whatsapp_windows',
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('last_inbound_at', bot.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account', 'user_id', name=op.f('pk_whatsapp_windows'))
    )


def downgrade() -> None:
    op.drop_table('whatsapp_windows')
    op.drop_table('recipient_opt_outs')
    with op.batch_alter_table('outbound_statuses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_statuses_outbound_id'))
        batch_op.drop_index(batch_op.f('ix_outbound_statuses_idempotency_key'))

    op.drop_table('outbound_statuses')
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_messages_status_due_at')
        batch_op.drop_index(batch_op.f('ix_outbound_messages_org_id'))
        batch_op.drop_index(batch_op.f('ix_outbound_messages_appointment_id'))

    op.drop_table('outbound_messages')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_received_at'))

    op.drop_table('inbound_messages')
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dead_letters_outbound_id'))

    op.drop_table('dead_letters')
