"""All tables; importing this package registers every model on `Base.metadata`.

The enums live in `storage.enums` (no SQLAlchemy); they are re-exported here for the ORM's users.
"""

from storage.enums import (
    AttemptOutcome,
    Channel,
    ChatMessageStatus,
    ChatPlatform,
    ConnectionStatus,
    DeliveryStatus,
    MediaKind,
    MediaStatus,
    OAuthPurpose,
    Provider,
    Role,
    Severity,
)
from storage.models.accounts import Account, Invitation, Membership, User
from storage.models.audit import AuditEntry
from storage.models.auth import ApiToken, LoginLink, SignInThrottle, WebSession
from storage.models.base import Base, utcnow
from storage.models.chat import (
    ChatConversation,
    ChatDestination,
    ChatIdentity,
    ChatInboundEvent,
    ChatInstall,
    ChatLinkCode,
)
from storage.models.chat_alerts import ChatAlertDelivery, ChatAlertFanout, ChatAlertMessage, ChatPacing
from storage.models.connections import Connection, MetaDataRequest, OAuthState
from storage.models.email import Email
from storage.models.media import MediaAsset, MediaDerivative, StoredBlob
from storage.models.notifications import Notification, NotificationDedup, NotificationRead
from storage.models.ops import (
    Heartbeat,
    Incident,
    JobRun,
    OpsDestination,
    OpsDigest,
    OpsMessage,
    TaskStat,
)
from storage.models.posts import ConnectionPacing, Post, PostMedia, PostTarget, PublishAttempt
from storage.models.weekly import WeeklyPost, WeeklySlot

__all__ = [
    "Account",
    "ApiToken",
    "AttemptOutcome",
    "AuditEntry",
    "Base",
    "Channel",
    "ChatAlertDelivery",
    "ChatAlertFanout",
    "ChatAlertMessage",
    "ChatConversation",
    "ChatDestination",
    "ChatIdentity",
    "ChatInboundEvent",
    "ChatInstall",
    "ChatLinkCode",
    "ChatMessageStatus",
    "ChatPacing",
    "ChatPlatform",
    "Connection",
    "ConnectionPacing",
    "ConnectionStatus",
    "DeliveryStatus",
    "Email",
    "Heartbeat",
    "Incident",
    "Invitation",
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
    "OpsDestination",
    "OpsDigest",
    "OpsMessage",
    "Post",
    "PostMedia",
    "PostTarget",
    "Provider",
    "PublishAttempt",
    "Role",
    "Severity",
    "SignInThrottle",
    "StoredBlob",
    "TaskStat",
    "User",
    "WebSession",
    "WeeklyPost",
    "WeeklySlot",
    "utcnow",
]
