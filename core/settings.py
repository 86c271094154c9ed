"""Service settings, read from the environment and `.env` (see README for the table)."""

from __future__ import annotations

import enum
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_MARKER = "dev-insecure"  # noqa: S105 - a marker, not a secret
DEFAULT_VAR_DIR = Path("var")


class Env(enum.StrEnum):
    dev = "dev"
    test = "test"
    prod = "prod"


class UnsafeSettings(Exception):
    """Raised when production is asked to start with settings only fit for development."""


def normalise_database_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` as hosting platforms hand them out; use asyncpg."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Settings(BaseSettings):
    """Every setting the service reads; names are the environment variables, upper-cased."""

    # `make dev` writes the generated secrets and the sandbox twins' URLs under var/; an explicit
    # `.env` (and the real environment) wins over both.
    model_config = SettingsConfigDict(
        env_file=(str(DEFAULT_VAR_DIR / "dev-secrets.env"), str(DEFAULT_VAR_DIR / "dev-twins.env"), ".env"),
        extra="ignore",
        populate_by_name=True,
    )

    cheers_env: Env = Env.dev
    database_url: str = Field(default="", validate_default=True)
    redis_url: str | None = None
    cheers_task_queue: str = "cheers:tasks"
    # An unacknowledged task (its worker died) is handed to another worker after this many seconds.
    cheers_task_redeliver_seconds: float = Field(default=120.0, gt=0)
    cheers_var_dir: Path = DEFAULT_VAR_DIR

    cheers_secret_key: str = ""
    cheers_token_keys: str = ""
    cheers_public_url: str = "http://127.0.0.1:8000"

    # Provider app credentials (from the Meta and Google developer consoles).
    cheers_facebook_app_id: str = ""
    cheers_facebook_app_secret: str = ""
    cheers_google_client_id: str = ""
    cheers_google_client_secret: str = ""

    # One origin per external service; each may carry a path prefix (sandbox twins use one).
    cheers_graph_url: str = "https://graph.facebook.com"
    cheers_facebook_dialog_url: str = "https://www.facebook.com"
    cheers_google_auth_url: str = "https://accounts.google.com"
    cheers_google_token_url: str = "https://oauth2.googleapis.com"  # noqa: S105 - a URL
    cheers_gbp_accounts_url: str = "https://mybusinessaccountmanagement.googleapis.com"
    cheers_gbp_info_url: str = "https://mybusinessbusinessinformation.googleapis.com"
    cheers_gbp_posts_url: str = "https://mybusiness.googleapis.com"
    cheers_slack_api_url: str = "https://slack.com/api/"
    cheers_slack_oauth_url: str = "https://slack.com"  # origin of Slack's "Add to Slack" authorize page
    # Single-workspace mode (a group running its own Slack app): the bot token used where no install is stored.
    cheers_slack_bot_token: str = Field(default="", repr=False)
    cheers_telegram_api_url: str = "https://api.telegram.org"  # origin: /bot<token>/ and /file/bot<token>/ go after it
    cheers_resend_api_url: str = "https://api.resend.com"

    # Media storage: files under CHEERS_MEDIA_ROOT (default <CHEERS_VAR_DIR>/media) unless a bucket is set.
    cheers_media_root: Path | None = None
    cheers_media_max_upload_mb: int = Field(default=200, gt=0)
    cheers_s3_endpoint_url: str | None = None  # unset: AWS itself; set for MinIO, R2, Ceph, ...
    cheers_s3_bucket: str = ""
    cheers_s3_access_key: str = Field(default="", repr=False)
    cheers_s3_secret_key: str = Field(default="", repr=False)
    cheers_s3_region: str = "us-east-1"
    # Where the derivatives job looks for ffmpeg and ffprobe (os.pathsep-separated folders); unset: $PATH.
    cheers_video_tools_path: str | None = None
    # A file whose derivatives keep failing for passing reasons is marked failed after this many tries.
    cheers_media_max_attempts: int = Field(default=5, gt=0)
    # Pixels (width x height of the sources) one worker process decodes at once; a larger photo runs alone.
    cheers_media_decode_pixel_budget: int = Field(default=100_000_000, gt=0)

    # Publishing engine (docs/operations.md): freshness cutoff, lease, dispatcher cadence, retries, pacing.
    cheers_post_freshness_minutes: int = Field(default=180, gt=0)
    cheers_publish_lease_seconds: float = Field(default=180.0, gt=0)
    cheers_dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    cheers_dispatch_batch: int = Field(default=50, gt=0)
    cheers_dispatcher_in_workers: bool = True  # each worker process runs a dispatcher loop
    cheers_publish_max_retries: int = Field(default=5, gt=0)
    cheers_publish_retry_base_seconds: float = Field(default=30.0, gt=0)
    cheers_connection_min_interval_seconds: float = Field(default=2.0, ge=0)
    cheers_connection_max_in_flight: int = Field(default=2, gt=0)
    cheers_watchdog_late_minutes: int = Field(default=5, gt=0)
    cheers_worker_stale_minutes: int = Field(default=3, gt=0)
    cheers_package_link_minutes: int = Field(default=60 * 24, gt=0)
    cheers_instagram_hashtag_limit: int = Field(default=30, gt=0)

    # The Slack app (docs/slack.md). Many workspaces: client id + secret (install with OAuth v2) + signing secret.
    # A group running its own app in one workspace: CHEERS_SLACK_BOT_TOKEN (above) + signing secret, no install.
    cheers_slack_signing_secret: str = Field(default="", repr=False)
    cheers_slack_client_id: str = ""
    cheers_slack_client_secret: str = Field(default="", repr=False)
    # How long a Slack Web API call may take before we give up (an answer Slack holds must never hang a worker):
    # sending alerts and a worker's answers; calls made while Slack waits for our 3-second ack; a package upload.
    cheers_slack_timeout_seconds: float = Field(default=10.0, gt=0)
    cheers_slack_ack_timeout_seconds: float = Field(default=2.0, gt=0)
    cheers_slack_upload_timeout_seconds: float = Field(default=60.0, gt=0)

    # The Telegram bot (docs/telegram.md): BotFather's token, and the secret Telegram sends back in the
    # X-Telegram-Bot-Api-Secret-Token header of every webhook call (`cheers telegram webhook set` registers it).
    cheers_telegram_bot_token: str = Field(default="", repr=False)
    cheers_telegram_webhook_secret: str = Field(default="", repr=False)
    # The bot's @username for deep links (t.me/<username>?start=CODE); unset: learned from getMe.
    cheers_telegram_bot_username: str = ""
    # How long a Bot API call may take (sending alerts and answers); a photo sent in chat may be this large.
    cheers_telegram_timeout_seconds: float = Field(default=10.0, gt=0)
    cheers_telegram_max_photo_mb: int = Field(default=20, gt=0)
    # A guided flow (/schedule step by step) left alone this long is over.
    cheers_telegram_flow_minutes: int = Field(default=30, gt=0)

    # E-mail through Resend's HTTP API (docs/email.md): ops incidents and digests, and venue people who chose e-mail
    # for their own alerts. Without an API key nothing is sent: e-mails wait in the outbox (`cheers emails`).
    cheers_resend_api_key: str = Field(default="", repr=False)
    cheers_email_from: str = "CheersAI <alerts@cheersai.app>"
    cheers_email_timeout_seconds: float = Field(default=10.0, gt=0)
    cheers_email_max_attempts: int = Field(default=8, gt=0)

    # Ops alerting (docs/runbook.md "On call"): who is told of incidents besides chats subscribed with
    # `alerts ops here`, where the Runbook button points, and the rules' thresholds.
    cheers_ops_emails: str = ""  # comma-separated addresses
    cheers_runbook_url: str = ""  # unset: <CHEERS_PUBLIC_URL>/ops/runbook
    cheers_ops_watch_seconds: float = Field(default=30.0, gt=0)  # how often workers and the scheduler check rules
    cheers_ops_job_failures: int = Field(default=3, gt=0)  # a job failing this many runs in a row
    cheers_ops_job_overdue_factor: float = Field(default=2.0, gt=1)  # a job not run for this many periods
    cheers_ops_task_window_minutes: int = Field(default=10, gt=0)  # a task failing above a rate over this window
    cheers_ops_task_failure_rate: float = Field(default=0.5, gt=0, le=1)
    cheers_ops_task_min_runs: int = Field(default=5, gt=0)  # ... once it ran at least this often in the window
    cheers_ops_queue_age_minutes: int = Field(default=10, gt=0)  # the oldest due delivery waiting this long
    cheers_ops_chat_failures: int = Field(default=3, gt=0)  # a chat destination with this many failing messages
    cheers_ops_silence_minutes: int = Field(default=60, gt=0)  # what the Silence button silences for

    cheers_log_level: str = "INFO"
    cheers_log_format: str = "json"  # json | console

    session_ttl_hours: int = Field(default=24 * 14, alias="CHEERS_SESSION_TTL_HOURS")
    login_link_ttl_minutes: int = Field(default=30, alias="CHEERS_LOGIN_LINK_TTL_MINUTES")
    notification_retention_days: int = Field(default=180, alias="CHEERS_NOTIFICATION_RETENTION_DAYS")
    heartbeat_interval_seconds: float = Field(default=10.0, alias="CHEERS_HEARTBEAT_INTERVAL_SECONDS")
    heartbeat_stale_seconds: float = Field(default=90.0, alias="CHEERS_HEARTBEAT_STALE_SECONDS")
    # The scheduler only ticks once a minute, so its beat is stale after a little over two ticks.
    scheduler_stale_seconds: float = Field(default=150.0, alias="CHEERS_SCHEDULER_STALE_SECONDS")
    db_pool_size: int = Field(default=10, alias="CHEERS_DB_POOL_SIZE")

    @field_validator("database_url", mode="before")
    @classmethod
    def _default_database(cls, value: object) -> object:
        return value or ""

    @field_validator("cheers_s3_endpoint_url", "cheers_video_tools_path", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return value or None

    @field_validator("cheers_public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def database(self) -> str:
        """The SQLAlchemy async URL to connect to."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.cheers_var_dir / 'cheers.db').as_posix()}"

    @property
    def media_root(self) -> Path:
        """Where the local blob store keeps media files."""
        return self.cheers_media_root or self.cheers_var_dir / "media"

    @property
    def media_max_upload_bytes(self) -> int:
        return self.cheers_media_max_upload_mb * 1024 * 1024

    @property
    def is_sqlite(self) -> bool:
        return self.database.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.cheers_env is not Env.dev

    @property
    def slack_api_base(self) -> str:
        """The Slack Web API base for slack_sdk, ending with "/" (without it calls go to the wrong path)."""
        return self.cheers_slack_api_url.rstrip("/") + "/"

    @property
    def slack_single_workspace(self) -> bool:
        """A bot token and signing secret are configured: answer one workspace with that token, no install."""
        return bool(self.cheers_slack_bot_token and self.cheers_slack_signing_secret)

    @property
    def telegram_api_origin(self) -> str:
        """The Bot API origin without a trailing slash (PTB appends bot<token>/ and file/bot<token>/)."""
        return self.cheers_telegram_api_url.rstrip("/")

    @property
    def telegram_bot_id(self) -> str:
        """The bot's numeric id (the token's part before the colon): Telegram's "workspace" in chat tables."""
        return self.cheers_telegram_bot_token.split(":", 1)[0] if ":" in self.cheers_telegram_bot_token else ""

    @property
    def ops_emails(self) -> list[str]:
        """The addresses CHEERS_OPS_EMAILS names (comma-separated), without blanks."""
        return [a.strip() for a in self.cheers_ops_emails.split(",") if a.strip()]

    @property
    def runbook_url(self) -> str:
        """Where the Runbook button and incident e-mails point (an anchor per rule is appended)."""
        return (self.cheers_runbook_url or f"{self.cheers_public_url}/ops/runbook").rstrip("/")

    @property
    def token_keys(self) -> list[str]:
        return [k.strip() for k in self.cheers_token_keys.split(",") if k.strip()]

    def check_safe_for_production(self) -> None:
        """Refuse to run `prod` on development settings, naming the setting that is wrong."""
        if self.cheers_env is not Env.prod:
            return
        problems: list[str] = []
        if not self.cheers_secret_key or DEV_SECRET_MARKER in self.cheers_secret_key:
            problems.append("CHEERS_SECRET_KEY is unset or a development key; generate a new one")
        elif len(self.cheers_secret_key) < 32:
            problems.append("CHEERS_SECRET_KEY is shorter than 32 characters")
        if not self.token_keys or any(DEV_SECRET_MARKER in k for k in self.cheers_token_keys.split(",")):
            problems.append("CHEERS_TOKEN_KEYS is unset or holds a development key")
        if self.is_sqlite:
            problems.append("DATABASE_URL points at SQLite; production needs PostgreSQL")
        if not self.redis_url:
            problems.append("REDIS_URL is unset, so tasks would use the in-memory broker; set a Redis URL")
        if urlsplit(self.cheers_public_url).scheme != "https":
            problems.append(f"CHEERS_PUBLIC_URL must be https in production (got {self.cheers_public_url})")
        if problems:
            raise UnsafeSettings("refusing to start with CHEERS_ENV=prod: " + "; ".join(problems))
