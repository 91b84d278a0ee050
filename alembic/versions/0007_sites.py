"""sites and saved messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("app_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("icon_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("icon", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("icon_background", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("chat_color_theme", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("chat_color_theme_inverted", sa.Boolean(), nullable=False),
        sa.Column("default_language", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("copyright", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("privacy_policy", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("custom_disclaimer", sa.Text(), nullable=False),
        sa.Column("show_workflow_steps", sa.Boolean(), nullable=False),
        sa.Column("use_icon_as_answer_icon", sa.Boolean(), nullable=False),
        sa.Column("prompt_public", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "saved_messages",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("app_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("created_by_end_user_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"]),
        sa.ForeignKeyConstraint(["created_by_end_user_id"], ["end_users.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "created_by_end_user_id", name="uq_saved_messages_message_end_user"),
    )
    with op.batch_alter_table("saved_messages", schema=None) as batch_op:
        batch_op.create_index("ix_saved_messages_app_end_user", ["app_id", "created_by_end_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("saved_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_saved_messages_app_end_user")
    op.drop_table("saved_messages")
    op.drop_table("sites")
