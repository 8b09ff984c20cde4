"""Secrets at rest: vendor credentials and OAuth tokens, encrypted with keys from settings.

Fernet (AES-128-CBC + HMAC-SHA256) through ``MultiFernet``: the first key encrypts, every key
decrypts, so a key can be rotated by putting the new one first and re-encrypting
(:func:`rotate_all`). Each configured key string is stretched with HKDF, so any long random
string works and the raw secret key is never used as the cipher key itself.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.domain.integrations.models import Connection


class SecretsUnreadable(RuntimeError):
    """Stored secrets were encrypted with a key that is no longer configured."""


def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"socdesk-secrets-v1", info=b"fernet").derive(
        material.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


class SecretBox:
    def __init__(self, key_materials: list[str]) -> None:
        if not key_materials:
            raise ValueError("at least one key is needed")
        self._cipher = MultiFernet([_fernet(material) for material in key_materials])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        keys = [key.get_secret_value() for key in settings.encryption_keys] or [settings.secret()]
        return cls(keys)

    def seal(self, values: dict[str, Any]) -> str:
        if not values:
            return ""
        return self._cipher.encrypt(json.dumps(values, separators=(",", ":")).encode("utf-8")).decode("ascii")

    def open(self, ciphertext: str) -> dict[str, Any]:
        if not ciphertext:
            return {}
        try:
            opened: dict[str, Any] = json.loads(self._cipher.decrypt(ciphertext.encode("ascii")))
        except InvalidToken as exc:
            raise SecretsUnreadable(
                "Stored credentials cannot be decrypted with the configured keys; "
                "restore the previous key in SOCDESK_ENCRYPTION_KEYS (after the new one)."
            ) from exc
        return opened

    def rotate(self, ciphertext: str) -> str:
        return self._cipher.rotate(ciphertext.encode("ascii")).decode("ascii") if ciphertext else ""


async def rotate_all(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every connection's secrets with the newest key; returns how many changed."""
    count = 0
    for connection in (await session.scalars(select(Connection).with_for_update())).all():
        if connection.secrets_ciphertext:
            connection.secrets_ciphertext = box.rotate(connection.secrets_ciphertext)
            count += 1
    await session.flush()
    return count
