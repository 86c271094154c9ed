"""The Telegram twin: the Bot API, file downloads and webhook delivery on loopback (sandbox.telegram.twin)."""
