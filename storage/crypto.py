"""Encryption of provider and chat tokens at rest, and masking for display."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyError(Exception):
    """The configured token keys are missing or malformed, or a value cannot be decrypted."""


def _fernet_key(entry: str) -> bytes:
    # A key may carry a label ("2026-11:<key>") so operators can tell keys apart in config.
    raw = entry.rsplit(":", 1)[-1].strip()
    try:
        if len(base64.urlsafe_b64decode(raw.encode())) != 32:
            raise ValueError
    except ValueError as exc:
        raise SecretKeyError("each CHEERS_TOKEN_KEYS entry must be a Fernet key (32 url-safe base64 bytes)") from exc
    return raw.encode()


def generate_key(label: str = "") -> str:
    """A new token key, optionally labelled, in the form CHEERS_TOKEN_KEYS accepts."""
    key = Fernet.generate_key().decode()
    return f"{label}:{key}" if label else key


class TokenCipher:
    """Encrypts with the newest key; decrypts with any configured key, so keys can rotate."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError("CHEERS_TOKEN_KEYS is empty; token encryption needs at least one key")
        self._fernet = MultiFernet([Fernet(_fernet_key(k)) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError("stored secret cannot be decrypted with any configured key") from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key (no-op in meaning, new bytes)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError("stored secret cannot be decrypted with any configured key") from exc


def mask(secret: str | None) -> str:
    """Show a secret as its first and last four characters (`EAAB…x9Qz`), never more."""
    if not secret:
        return ""
    if len(secret) <= 12:
        return "…" + secret[-2:] if len(secret) > 4 else "…"
    return f"{secret[:4]}…{secret[-4:]}"
