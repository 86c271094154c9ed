"""Dispatcher wake on commit (PostgreSQL): a delivery that becomes claimable and due within seconds notifies the
`cheers_due` channel, so a dispatcher loop LISTENing there ticks at once instead of at its next interval. The
notification is sent when the transaction commits (never for one rolled back), once per transaction however many
rows it touched. SQLite has no LISTEN/NOTIFY: its dispatchers keep their interval.

Revision ID: 0013_dispatch_wake
Revises: 0012_sign_in_throttle
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_dispatch_wake"
down_revision: str | None = "0012_sign_in_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# storage.wake.DUE_CHANNEL; the statuses are storage.models.posts.CLAIMABLE; the window covers a post created "now"
# by a process whose clock runs a little ahead of the transaction's start, and the bench's release 1 s ahead.
DUE_NOW = "NEW.status IN ('scheduled', 'retrying', 'processing') AND NEW.due_at <= now() + interval '5 seconds'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION cheers_due_notify() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_notify('cheers_due', ''); RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER post_targets_due_inserted AFTER INSERT ON post_targets FOR EACH ROW "
        f"WHEN ({DUE_NOW}) EXECUTE FUNCTION cheers_due_notify()"
    )
    # Only statements that set the status or due time fire it (not the begin's attempt count, nor the finish).
    op.execute(
        f"CREATE TRIGGER post_targets_due_updated AFTER UPDATE OF status, due_at ON post_targets FOR EACH ROW "
        f"WHEN ({DUE_NOW} AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.due_at IS DISTINCT FROM NEW.due_at)) "
        f"EXECUTE FUNCTION cheers_due_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS post_targets_due_updated ON post_targets")
    op.execute("DROP TRIGGER IF EXISTS post_targets_due_inserted ON post_targets")
    op.execute("DROP FUNCTION IF EXISTS cheers_due_notify()")
