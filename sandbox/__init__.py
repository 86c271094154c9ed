"""Loopback twins of external services (Graph API, Google, Slack, Telegram, Resend) for `make dev` and tests; never imported by production code."""
