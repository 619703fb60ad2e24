"""Password hashing (Argon2) and access tokens (HS256 JWTs, algorithm pinned on decode)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from jose import JWTError, jwt
from passlib.context import CryptContext

from app.domain import apikeys
from app.domain.errors import Unauthorized, WeakPassword

ALGORITHM = "HS256"
_passwords = CryptContext(schemes=["argon2"], deprecated="auto")
# Verifying against this for unknown users keeps login time the same for every username.
_DUMMY_HASH = _passwords.hash("not-a-real-password-" + secrets.token_hex(8))


def hash_password(password: str) -> str:
    return _passwords.hash(password)


# No password we accept is longer (the schemas allow 128); passlib refuses more than 4096
# bytes, and a UTF-8 character takes at most four.
MAX_VERIFIED_PASSWORD_CHARS = 1024


def verify_password(password: str, password_hash: str | None) -> bool:
    too_long = len(password) > MAX_VERIFIED_PASSWORD_CHARS
    if password_hash is None or too_long:
        # Hash anyway, so the answer takes as long as a real check.
        _passwords.verify(password[:MAX_VERIFIED_PASSWORD_CHARS], _DUMMY_HASH)
        return False
    return _passwords.verify(password, password_hash)


# zxcvbn's scale: 0 too guessable … 4 very unguessable. 3 resists an offline attack on a slow
# hash; it refuses the 30,000 most common passwords (its list), keyboard walks, repeats,
# dates, and variations of the username or name.
MIN_PASSWORD_SCORE = 3
_ZXCVBN_MAX_CHARS = 72  # zxcvbn refuses longer input; the first 72 characters decide anyway


def check_password_policy(password: str, *, user_inputs: tuple[str, ...] = ()) -> None:
    """Refuse a guessable password (the schemas already require 8–128 characters)."""
    from zxcvbn import zxcvbn  # its dictionaries take a moment to load: only when needed

    result = zxcvbn(password[:_ZXCVBN_MAX_CHARS], user_inputs=[u for u in user_inputs if u])
    if result["score"] < MIN_PASSWORD_SCORE:
        hint = (result["feedback"].get("warning") or "It is too easy to guess").rstrip(".")
        raise WeakPassword(
            f"The password is too weak: {hint}; use a longer phrase of unusual words",
            errors=[{"loc": ["body", "password"], "msg": f"too weak: {hint}", "type": "password_too_weak"}],
        )


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    expires_at: dt.datetime


def issue_access_token(
    *, user_id: uuid.UUID, role: str, secret: str, minutes: int, now: dt.datetime
) -> tuple[str, int]:
    expires = now + dt.timedelta(minutes=minutes)
    claims = {
        "sub": str(user_id),
        "role": role,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), minutes * 60


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require_exp": True, "require_sub": True}
        )
        if claims.get("typ") != "access":
            raise JWTError("not an access token")
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            role=str(claims.get("role", "")),
            expires_at=dt.datetime.fromtimestamp(claims["exp"], dt.UTC),
        )
    # OverflowError/OSError: a well-signed token whose exp is beyond any representable time.
    except (JWTError, ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
        raise Unauthorized("The access token is invalid or expired") from exc


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the SHA-256 hash we store instead of it."""
    token = secrets.token_urlsafe(48)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly made API key: ``key`` is shown once; ``lookup`` and ``key_hash`` are stored."""

    key: str
    lookup: str
    key_hash: str


_LOOKUP_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_api_key() -> NewApiKey:
    lookup = "".join(secrets.choice(_LOOKUP_ALPHABET) for _ in range(apikeys.LOOKUP_LEN))
    key = f"{apikeys.KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, lookup=lookup, key_hash=hash_api_key(key))


def hash_api_key(key: str) -> str:
    # The key carries 256 random bits, so a fast hash is enough (nothing to brute-force).
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with the stored hash."""
    return hmac.compare_digest(hash_api_key(key), stored_hash)
