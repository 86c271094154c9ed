"""Loopback twins of external services (Graph API, Google, Slack, Telegram, Resend).

Used by `make dev` and the tests; never imported by production code."""
