"""Gateway API keys: created with a random secret shown once, stored as its SHA-256 only.

A key reads ``tn_{key_id}_{secret}``: ``key_id`` (16 hex digits) is public and names the
key in listings and revocations; ``secret`` is 32 random bytes (base64url). A key is bound
to one participant (it may submit events signed by that participant only) or is an admin
key (participants and keys). SHA-256 suffices as the stored form because the secret is
256 random bits, not a password: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select, update

from node.exceptions import (
    ApiKeyNotFoundError,
    AuthenticationError,
    ConfigurationError,
    ParticipantNotFoundError,
)
from node.store.store import Store
from node.store.tables import API_KEYS

TOKEN_PREFIX: Final = "tn_"  # noqa: S105 - a prefix, not a secret
MAX_LABEL_LENGTH: Final = 128
_TOKEN: Final = re.compile(r"tn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored key, without its secret."""

    key_id: str
    participant_id: int | None
    admin: bool
    label: str
    created_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    token: str  # the only time the secret exists outside the client
    record: ApiKeyRecord


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row.key_id,
        participant_id=row.participant_id,
        admin=bool(row.admin),
        label=row.label,
        created_at=int(row.created_at),
        revoked_at=None if row.revoked_at is None else int(row.revoked_at),
    )


class ApiKeys:
    """Create, check, list and revoke API keys in the node's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self, *, participant_id: int | None = None, admin: bool = False, label: str = ""
    ) -> CreatedKey:
        """A new key for ``participant_id`` (which must be in the mirror), or an admin key."""
        if admin == (participant_id is not None):
            raise ConfigurationError("a key is either a participant's or an admin key")
        if len(label) > MAX_LABEL_LENGTH:
            raise ConfigurationError(f"a key's label is at most {MAX_LABEL_LENGTH} characters")
        key_id = secrets.token_hex(8)
        token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = int(time.time() * 1000)
        with self.store.write() as conn:
            known = participant_id is None or self.store.participants.get(conn, participant_id)
            if not known:
                raise ParticipantNotFoundError(f"no participant {participant_id}")
            conn.execute(
                API_KEYS.insert().values(
                    key_id=key_id,
                    secret_hash=_hash(token),
                    participant_id=participant_id,
                    admin=admin,
                    label=label,
                    created_at=now,
                    revoked_at=None,
                )
            )
        return CreatedKey(token, ApiKeyRecord(key_id, participant_id, admin, label, now, None))

    def authenticate(self, token: str) -> ApiKeyRecord:
        """The active key ``token`` is; :class:`AuthenticationError` for anything else."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise AuthenticationError("malformed API key")
        with self.store.read() as conn:
            row = conn.execute(select(API_KEYS).where(API_KEYS.c.key_id == match[1])).first()
        # Compare digests in constant time, and do it even for an unknown key id.
        stored = bytes(row.secret_hash) if row is not None else bytes(32)
        if not hmac.compare_digest(stored, _hash(token)) or row is None:
            raise AuthenticationError("unknown API key")
        if row.revoked_at is not None:
            raise AuthenticationError("this API key has been revoked")
        return _record(row)

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key (idempotent); :class:`ApiKeyNotFoundError` if there is none."""
        now = int(time.time() * 1000)
        with self.store.write() as conn:
            conn.execute(
                update(API_KEYS)
                .where(API_KEYS.c.key_id == key_id, API_KEYS.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = conn.execute(select(API_KEYS).where(API_KEYS.c.key_id == key_id)).first()
        if row is None:
            raise ApiKeyNotFoundError(f"no API key {key_id}")
        return _record(row)

    def list(self, participant_id: int | None = None) -> list[ApiKeyRecord]:
        query = select(API_KEYS).order_by(API_KEYS.c.id)
        if participant_id is not None:
            query = query.where(API_KEYS.c.participant_id == participant_id)
        with self.store.read() as conn:
            return [_record(row) for row in conn.execute(query)]
