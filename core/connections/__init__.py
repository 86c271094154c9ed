"""Connections to providers: consent (OAuth), lifecycle, expiry watch, Meta callbacks, imports, key rotation."""
