"""Encrypted columns: where secrets live at rest, how to set them, and how to re-encrypt them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.crypto import TokenCipher, mask
from storage.models import ChatInstall, Connection, OAuthState


@dataclass(frozen=True)
class EncryptedField:
    """A secret stored as `<name>_ciphertext` with a masked `<name>_hint` beside it."""

    model: type
    name: str
    shown: bool = True  # False: never displayed (PKCE verifiers, pending picks), so no hint column

    @property
    def ciphertext(self) -> InstrumentedAttribute[Any]:
        attr: InstrumentedAttribute[Any] = getattr(self.model, f"{self.name}_ciphertext")
        return attr


# Every encrypted column in the schema; `cheers keys rotate` walks exactly this list.
ENCRYPTED_FIELDS: list[EncryptedField] = [
    EncryptedField(Connection, "access_token"),
    EncryptedField(Connection, "refresh_token"),
    EncryptedField(Connection, "user_token"),
    EncryptedField(OAuthState, "code_verifier", shown=False),
    EncryptedField(OAuthState, "pending", shown=False),
    EncryptedField(ChatInstall, "bot_token"),
]


def seal(obj: object, name: str, plaintext: str | None, cipher: TokenCipher) -> None:
    """Store a secret on a row: ciphertext plus masked hint; the plaintext is not kept."""
    setattr(obj, f"{name}_ciphertext", cipher.encrypt(plaintext) if plaintext else None)
    setattr(obj, f"{name}_hint", mask(plaintext) if plaintext else None)


def unseal(obj: object, name: str, cipher: TokenCipher) -> str | None:
    """Decrypt a secret at the point of use (a provider call, an audited reveal)."""
    value = getattr(obj, f"{name}_ciphertext")
    return cipher.decrypt(value) if value else None


async def rotate_batch(
    session: AsyncSession, field: EncryptedField, cipher: TokenCipher, *, after_id: int, limit: int
) -> Sequence[int]:
    """Re-encrypt one batch of a field under the newest key; returns the ids touched."""
    model_id = field.model.id  # type: ignore[attr-defined]
    rows = (
        await session.execute(
            select(model_id, field.ciphertext)
            .where(model_id > after_id, field.ciphertext.is_not(None))
            .order_by(model_id)
            .limit(limit)
        )
    ).all()
    for row_id, ciphertext in rows:
        await session.execute(
            update(field.model).where(model_id == row_id).values({field.ciphertext: cipher.rotate(ciphertext)})
        )
    return [r[0] for r in rows]
