"""Domain errors: a stable machine-readable ``code``, a human ``detail`` and extra facts.

The domain never speaks HTTP. ``app/routers/problems.py`` maps each *kind* below to a
status code in one table; a specific error is a subclass of a kind with its own code.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error the domain and the services raise on purpose."""

    code: ClassVar[str] = "domain_error"
    title: ClassVar[str] = "Request cannot be carried out"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.instance_code = code or self.code
        # Extra facts clients act on (allowed targets, shortfall, candidates, ...).
        self.extra: dict[str, Any] = extra


class NotFound(DomainError):
    """The record does not exist or is outside the caller's data scope."""

    code = "not_found"
    title = "Not found"


class Forbidden(DomainError):
    """The caller's role may not perform this action."""

    code = "forbidden"
    title = "Forbidden"


class Unauthorized(DomainError):
    """Credentials are missing, invalid or expired."""

    code = "unauthorized"
    title = "Unauthorized"


class Conflict(DomainError):
    """The request conflicts with the current state of a record."""

    code = "conflict"
    title = "Conflict"


class VersionMismatch(DomainError):
    """An ``If-Match`` precondition names a version that is no longer current."""

    code = "conflict.version_mismatch"
    title = "Precondition failed"


class RuleViolation(DomainError):
    """Well-formed input that a business rule refuses (unmet requirement, bad value)."""

    code = "rule_violation"
    title = "Unprocessable request"


class InvalidInput(DomainError):
    """Input that fails validation; ``errors`` lists each problem like pydantic does."""

    code = "validation_error"
    title = "Validation error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, code=code, **extra)
        self.errors = errors or []


class BadRequest(DomainError):
    """A malformed request that is not a field validation problem (e.g. a bad cursor)."""

    code = "bad_request"
    title = "Bad request"


class TooLarge(DomainError):
    """A request body or batch larger than the service accepts."""

    code = "payload_too_large"
    title = "Payload too large"


class RateLimited(DomainError):
    """Too many attempts in a short time (e.g. failed logins)."""

    code = "rate_limited"
    title = "Too many requests"


class Gone(DomainError):
    """Something the client refers to existed but is kept no longer (an expired cursor)."""

    code = "gone"
    title = "Gone"


class ServiceUnavailable(DomainError):
    """A dependency the service needs (the database) does not answer."""

    code = "service_unavailable"
    title = "Service unavailable"
