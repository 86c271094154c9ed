"""A twin of Resend's e-mail API (POST /emails) on loopback, with an inbox page; see docs/resend-twin.md."""
