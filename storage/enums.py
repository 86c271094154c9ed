"""The stored vocabulary: every enum a column holds, as plain Python (no SQLAlchemy, so providers can use them).

The models' `Enum(...)` column types name their own database types (`name="provider"`, ...); the values here
are what rows hold, so renaming a member or changing a value is a migration.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """Roles in a venue, weakest first."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"
    owner = "owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


class Channel(enum.StrEnum):
    api = "api"
    cli = "cli"
    slack = "slack"
    telegram = "telegram"
    web = "web"
    system = "system"


class Provider(enum.StrEnum):
    facebook = "facebook"
    instagram = "instagram"
    google_business = "google_business"


class ConnectionStatus(enum.StrEnum):
    active = "active"
    expiring = "expiring"
    needs_reconnect = "needs_reconnect"
    revoked = "revoked"
    disconnected = "disconnected"


class OAuthPurpose(enum.StrEnum):
    connect = "connect"
    reconnect = "reconnect"
    slack_install = "slack_install"  # adding the Slack app to a workspace for a venue (core.chat.installs)


class MediaKind(enum.StrEnum):
    image = "image"
    video = "video"


class MediaStatus(enum.StrEnum):
    pending = "pending"  # waiting for the derivatives job (fresh, or retrying at next_attempt_at)
    processing = "processing"  # claimed by a worker since processing_started_at
    ready = "ready"  # every derivative stored
    failed = "failed"  # the file is bad, or transient failures ran out of attempts (last_error says which)
    skipped = "skipped"  # derivatives could not be made here (no ffmpeg); the original is used where allowed


class Severity(enum.StrEnum):
    info = "info"
    success = "success"
    warning = "warning"
    error = "error"
    critical = "critical"


class DeliveryStatus(enum.StrEnum):
    scheduled = "scheduled"  # waiting for due_at
    claimed = "claimed"  # a worker holds the lease until lease_expires_at
    processing = "processing"  # the provider is preparing it (Instagram container, GBP review); check at due_at
    retrying = "retrying"  # a passing failure or a rate limit; next try at due_at
    published = "published"
    needs_reconnect = "needs_reconnect"  # the connection lost its access; resumes after a reconnect
    failed = "failed"  # refused for good (reason and remedy on the row)
    missed = "missed"  # could not go out before its freshness cutoff
    in_doubt = "in_doubt"  # the provider may have published it; never re-sent automatically
    needs_attention = "needs_attention"  # reconciliation could not tell; a person decides
    cancelled = "cancelled"
    # waits for an admin or owner to approve its post (docs/weekly.md#approvals); never claimed, missed at cutoff
    pending_approval = "pending_approval"


class AttemptOutcome(enum.StrEnum):
    in_flight = "in_flight"  # written before the provider call; still so after a crash = in doubt
    published = "published"
    pending = "pending"  # the provider is still processing; checked again later
    rate_limited = "rate_limited"
    transient = "transient"
    auth_expired = "auth_expired"
    permanent = "permanent"
    metadata_missing = "metadata_missing"
    in_doubt = "in_doubt"
    waiting = "waiting"  # nothing was sent (media still being prepared, connection paced)


class ChatPlatform(enum.StrEnum):
    """A chat platform the bot lives on."""

    slack = "slack"
    telegram = "telegram"


class ChatMessageStatus(enum.StrEnum):
    """An alert message in a chat: waiting, being sent (under a lease), sent (ref known), given up, or gone."""

    pending = "pending"  # not posted yet (new, retrying, or held by quiet hours / pacing)
    sending = "sending"  # a worker holds the lease and is posting or editing it
    sent = "sent"  # posted (`ref` set); may still be edited (more items, resolved)
    failed = "failed"  # gave up: retries used, or the answer was lost twice (a person may look)
    gone = "gone"  # the chat or the install is gone; nothing more is sent there
