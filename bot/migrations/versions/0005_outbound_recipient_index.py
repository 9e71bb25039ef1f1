"""Index outbound messages by recipient: the send job's per-recipient order checks
("an earlier row still owed?", "the next owed row") otherwise scan every queued row,
which a reminder wave or a campaign makes tens of thousands per send.

Revision ID: 0005_outbound_recipient
Revises: 0002_outbox
"""

from __future__ import annotations

from alembic import op

revision = "0005_outbound_recipient"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbound_messages_recipient", "outbound_messages", ["channel", "recipient", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_recipient", table_name="outbound_messages")
