"""All tables; importing this package registers every model on `Base.metadata`."""

from storage.models.accounts import Account, Membership, Role, User
from storage.models.audit import AuditEntry, Channel
from storage.models.auth import ApiToken, LoginLink, WebSession
from storage.models.base import Base, utcnow
from storage.models.connections import (
    Connection,
    ConnectionStatus,
    MetaDataRequest,
    OAuthPurpose,
    OAuthState,
    Provider,
)
from storage.models.media import MediaAsset, MediaDerivative, MediaKind, MediaStatus
from storage.models.notifications import (
    Notification,
    NotificationDedup,
    NotificationRead,
    Severity,
)
from storage.models.ops import Heartbeat, JobRun
from storage.models.posts import (
    AttemptOutcome,
    ConnectionPacing,
    DeliveryStatus,
    Post,
    PostMedia,
    PostTarget,
    PublishAttempt,
)

__all__ = [
    "Account",
    "ApiToken",
    "AttemptOutcome",
    "AuditEntry",
    "Base",
    "Channel",
    "Connection",
    "ConnectionPacing",
    "ConnectionStatus",
    "DeliveryStatus",
    "Heartbeat",
    "JobRun",
    "LoginLink",
    "MediaAsset",
    "MediaDerivative",
    "MediaKind",
    "MediaStatus",
    "Membership",
    "MetaDataRequest",
    "Notification",
    "NotificationDedup",
    "NotificationRead",
    "OAuthPurpose",
    "OAuthState",
    "Post",
    "PostMedia",
    "PostTarget",
    "Provider",
    "PublishAttempt",
    "Role",
    "Severity",
    "User",
    "WebSession",
    "utcnow",
]
