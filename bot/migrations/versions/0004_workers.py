"""Time-driven workers: branch reminder policy, scheduled sends, reminder questions,
attendance confirmations, the staff "to action" list, tele rooms and tokens, ASAP slots and
offers, and payment links.

Revision ID: 0004_workers
Revises: 0001_booking
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db import UTCDateTime

revision = "0004_workers"
down_revision = "0001_booking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('asap_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('waitlist_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('appointment_type_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('recipient', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('offered_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asap_offers')),
    sa.UniqueConstraint('slot_id', 'waitlist_id', name=op.f('uq_asap_offers_slot_id_waitlist_id'))
    )
    op.create_index(op.f('ix_asap_offers_patient_id'), 'asap_offers', ['patient_id'], unique=False)
    op.create_index(op.f('ix_asap_offers_slot_id'), 'asap_offers', ['slot_id'], unique=False)
    op.create_table('asap_slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('source_event_id', sa.Integer(), nullable=True),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('start', UTCDateTime(timezone=True), nullable=False),
    sa.Column('end', UTCDateTime(timezone=True), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('appointment_type_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('window_ends_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('hold_appointment_id', sa.Integer(), nullable=True),
    sa.Column('claimed_appointment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asap_slots')),
    sa.UniqueConstraint('source_event_id', name=op.f('uq_asap_slots_source_event_id'))
    )
    op.create_index('ix_asap_slots_status_window', 'asap_slots', ['status', 'window_ends_at'], unique=False)
    op.create_table('attendance_confirmations',
    sa.Column('appointment_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('appointment_version', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('confirmed_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('appointment_id', name=op.f('pk_attendance_confirmations'))
    )
    op.create_table('branch_reminder_policies',
    sa.Column('branch_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('offsets_min', sa.String(length=100), nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=False),
    sa.Column('quiet_end', sa.String(length=5), nullable=False),
    sa.Column('tele_link_min', sa.Integer(), nullable=False),
    sa.Column('asap_batch', sa.Integer(), nullable=False),
    sa.Column('asap_window_min', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('branch_id', name=op.f('pk_branch_reminder_policies'))
    )
    op.create_table('payment_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('captured_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_links')),
    sa.UniqueConstraint('reference', name=op.f('uq_payment_links_reference'))
    )
    op.create_index(op.f('ix_payment_links_appointment_id'), 'payment_links', ['appointment_id'], unique=False)
    op.create_table('reminder_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('candidate_ids', sa.String(length=400), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_questions'))
    )
    op.create_index('ix_reminder_questions_user', 'reminder_questions', ['channel', 'user_id'], unique=False)
    op.create_table('scheduled_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('offset_min', sa.Integer(), nullable=False),
    sa.Column('appointment_start', UTCDateTime(timezone=True), nullable=False),
    sa.Column('appointment_version', sa.Integer(), nullable=False),
    sa.Column('send_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('job_id', sa.String(length=120), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('recipient', sa.String(length=64), nullable=True),
    sa.Column('outbound_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_sends')),
    sa.UniqueConstraint('appointment_id', 'kind', 'offset_min', 'appointment_start', name=op.f('uq_scheduled_sends_appointment_id_kind_offset_min_appointment_start')),
    sa.UniqueConstraint('job_id', name=op.f('uq_scheduled_sends_job_id'))
    )
    op.create_index(op.f('ix_scheduled_sends_appointment_id'), 'scheduled_sends', ['appointment_id'], unique=False)
    op.create_index('ix_scheduled_sends_status_send_at', 'scheduled_sends', ['status', 'send_at'], unique=False)
    op.create_table('staff_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_actions'))
    )
    op.create_index('ix_staff_actions_org_open', 'staff_actions', ['org_id', 'resolved_at'], unique=False)
    op.create_table('tele_rooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('room', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tele_rooms')),
    sa.UniqueConstraint('appointment_id', name=op.f('uq_tele_rooms_appointment_id')),
    sa.UniqueConstraint('room', name=op.f('uq_tele_rooms_room'))
    )
    op.create_table('tele_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=True),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_joined_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_joined_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('join_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tele_tokens')),
    sa.UniqueConstraint('room_id', 'role', name=op.f('uq_tele_tokens_room_id_role')),
    sa.UniqueConstraint('token', name=op.f('uq_tele_tokens_token'))
    )
    op.create_index(op.f('ix_tele_tokens_room_id'), 'tele_tokens', ['room_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_tele_tokens_room_id'), table_name='tele_tokens')
    op.drop_table('tele_tokens')
    op.drop_table('tele_rooms')
    op.drop_index('ix_staff_actions_org_open', table_name='staff_actions')
    op.drop_table('staff_actions')
    op.drop_index('ix_scheduled_sends_status_send_at', table_name='scheduled_sends')
    op.drop_index(op.f('ix_scheduled_sends_appointment_id'), table_name='scheduled_sends')
    op.drop_table('scheduled_sends')
    op.drop_index('ix_reminder_questions_user', table_name='reminder_questions')
    op.drop_table('reminder_questions')
    op.drop_index(op.f('ix_payment_links_appointment_id'), table_name='payment_links')
    op.drop_table('payment_links')
    op.drop_table('branch_reminder_policies')
    op.drop_table('attendance_confirmations')
    op.drop_index('ix_asap_slots_status_window', table_name='asap_slots')
    op.drop_table('asap_slots')
    op.drop_index(op.f('ix_asap_offers_slot_id'), table_name='asap_offers')
    op.drop_index(op.f('ix_asap_offers_patient_id'), table_name='asap_offers')
    op.drop_table('asap_offers')
