"""The error catalogue: every code the service answers, declared once.

The domain never speaks HTTP. ``app/routers/problems.py`` maps each *kind* below to a
status code in one table; every other error is a subclass of a kind with its own ``code``,
a ``title`` (inherited from its kind unless it has its own) and the ``extras`` it adds to
the problem body. Its docstring is its meaning: ``docs/api-conventions.md`` lists them all
and the OpenAPI file shows them per route, both generated from this module.

Raise the class (``raise ContractNotDraft("...", contract_status=...)``), never a kind with
a code string: a code that is not a class here does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Extra:
    """A member an error adds to its problem body: JSON type, meaning and an example."""

    type: str
    description: str
    example: Any


def _text(description: str, example: str) -> Extra:
    return Extra("string", description, example)


def _int(description: str, example: int) -> Extra:
    return Extra("integer", description, example)


def _money(description: str, example: str) -> Extra:
    return Extra("string", f"{description} (decimal string)", example)


def _texts(description: str, example: list[str]) -> Extra:
    return Extra("array", description, example)


_CONTRACT_STATUS = _text("The contract's current status", "signed")


class DomainError(Exception):
    """Base of every error the domain and the services raise on purpose."""

    code: ClassVar[str] = "domain_error"
    title: ClassVar[str] = "Request cannot be carried out"
    extras: ClassVar[Mapping[str, Extra]] = {}

    def __init__(self, detail: str, **extra: Any) -> None:
        undeclared = sorted(set(extra) - set(self.extras))
        if undeclared:
            raise TypeError(f"{type(self).__name__} does not declare the extras {undeclared}")
        super().__init__(detail)
        self.detail = detail
        # Extra facts clients act on (allowed targets, shortfall, candidates, ...).
        self.extra: dict[str, Any] = extra


# --------------------------------------------------------------------------- kinds


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
    extras = {"current_version": _int("The record's current version (absent after a lost race)", 2)}


class RuleViolation(DomainError):
    """Well-formed input that a business rule refuses (unmet requirement, bad value)."""

    code = "rule_violation"
    title = "Unprocessable request"


class InvalidInput(DomainError):
    """Input that fails validation; ``errors`` lists each problem like pydantic does."""

    code = "validation_error"
    title = "Validation error"
    extras = {
        "errors": Extra(
            "array",
            "One entry per problem: loc, msg, type",
            [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}],
        )
    }

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
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
    extras = {"retry_after": _int("Seconds to wait before retrying (also sent as Retry-After)", 1)}


# Kinds the HTTP layer answers by itself; nothing in the service raises them.


class MethodNotAllowed(DomainError):
    """The path exists but does not answer this HTTP method."""

    code = "method_not_allowed"
    title = "Method Not Allowed"


class NotAcceptable(DomainError):
    """The service cannot answer in a media type the ``Accept`` header allows."""

    code = "not_acceptable"
    title = "Not Acceptable"


class UnsupportedMediaType(DomainError):
    """The request body's media type is not one the operation reads."""

    code = "unsupported_media_type"
    title = "Unsupported Media Type"


class InternalError(DomainError):
    """An unexpected error; nothing else is said (the log has it under the request id)."""

    code = "internal_error"
    title = "Internal Server Error"


# --------------------------------------------------------------------------- requests


class IntegrityConflict(Conflict):
    """The change collides with existing data (a unique value taken by a concurrent request)."""

    code = "conflict.integrity"


class InvalidCursor(BadRequest):
    """A pagination cursor that is malformed or belongs to another listing."""

    code = "pagination.invalid_cursor"


class BadIfMatch(BadRequest):
    """An ``If-Match`` header that is not an ETag like ``"3"`` (or ``*``)."""

    code = "bad_request.if_match"


class IdempotencyKeyReused(RuleViolation):
    """The ``Idempotency-Key`` was used before with a different path or body."""

    code = "idempotency.key_reused"


class IdempotencyInProgress(Conflict):
    """A request with this ``Idempotency-Key`` is still being processed."""

    code = "idempotency.in_progress"


class IdempotencyResponseLost(Conflict):
    """The keyed request was carried out but its response was lost; look the result up."""

    code = "idempotency.response_lost"


class IdempotencySuperseded(Conflict):
    """A retry with the same ``Idempotency-Key`` took this request over; nothing was kept."""

    code = "idempotency.superseded"


# --------------------------------------------------------------------------- auth and users


class InvalidCredentials(Unauthorized):
    """Wrong user name or password, or the account is not active."""

    code = "auth.invalid_credentials"


class InvalidRefreshToken(Unauthorized):
    """The refresh token is unknown, revoked or expired."""

    code = "auth.invalid_refresh_token"


class RefreshTokenReused(Unauthorized):
    """A refresh token was presented twice; every token of that login is revoked."""

    code = "auth.refresh_token_reused"


class InactiveUser(Unauthorized):
    """The account behind a refresh token has been deactivated."""

    code = "auth.inactive_user"


class TooManyAttempts(RateLimited):
    """Too many failed logins from this client address for this user name: wait a while."""

    code = "auth.too_many_attempts"
    title = "Too many failed logins"
    extras = {"retry_after": _int("Seconds until the lock ends (also sent as Retry-After)", 900)}


class UsernameTaken(Conflict):
    """Another user has this user name."""

    code = "user.username_taken"
    extras = {"username": _text("The name asked for", "rep9")}


class WeakPassword(InvalidInput):
    """The new password is too easy to guess (zxcvbn scores it below 3 of 4); ``errors``
    names ``["body", "password"]`` and why, never the password itself."""

    code = "user.weak_password"


class UserTeamNotFound(RuleViolation):
    """The team given for the user does not exist."""

    code = "user.team_not_found"
    extras = {"team_id": _text("The team id given", "5f0c…")}


class CannotDeactivateSelf(RuleViolation):
    """Nobody deactivates their own account."""

    code = "user.cannot_deactivate_self"


class UserOwnsCustomers(Conflict):
    """A user who still owns customers cannot be deactivated; hand them over first."""

    code = "user.owns_customers"
    extras = {"owned_customers": _int("How many customers the user owns", 12)}


class TeamInvalidManager(RuleViolation):
    """A team's manager must be an active manager or director."""

    code = "team.invalid_manager"
    extras = {"manager_id": _text("The manager id given", "9a1e…")}


class TeamParentNotFound(RuleViolation):
    """The parent team does not exist."""

    code = "team.parent_not_found"
    extras = {"parent_id": _text("The parent team id given", "77c2…")}


class TeamCycle(RuleViolation):
    """A team cannot be moved under itself or one of its descendants."""

    code = "team.cycle"


# --------------------------------------------------------------------------- customers


class CustomerDuplicate(Conflict):
    """A customer with the same USCC, phone, email or name exists already."""

    code = "customer.duplicate"
    extras = {
        "candidates": Extra(
            "array",
            "The existing customers: id, name, matched_on, visible (false: one you may not "
            "see, reported without id or name)",
            [
                {"id": "3c1d…", "name": "杭州示例科技有限公司", "matched_on": ["uscc"], "visible": True},
                {"id": None, "name": None, "matched_on": ["phone"], "visible": False},
            ],
        )
    }


class CustomerTooManyContactSearches(RateLimited):
    """Too many searches by phone or email in the last minute."""

    code = "customer.too_many_contact_searches"
    title = "Too many contact searches"
    extras = {"retry_after": _int("Seconds until the next search is allowed (also sent as Retry-After)", 20)}


class ComplaintInvalidTransition(Conflict):
    """The complaint cannot move from its status to the one asked for."""

    code = "complaint.invalid_transition"
    title = "Invalid complaint transition"
    extras = {
        "from": _text("The complaint's status", "closed"),
        "to": _text("The status asked for", "in_progress"),
        "allowed": _texts("The statuses it may move to", []),
    }


class ComplaintInvalidHandler(RuleViolation):
    """A complaint's handler must be an active rep, manager, director, support agent or admin."""

    code = "complaint.invalid_handler"
    extras = {"handler_id": _text("The handler id given", "4b2e…")}


class CustomerInvalidOwner(RuleViolation):
    """A customer's owner must be an active rep or manager."""

    code = "customer.invalid_owner"
    extras = {"owner_id": _text("The owner id given", "981012ee-…")}


class CustomerMergeSelf(RuleViolation):
    """A customer cannot be merged into itself."""

    code = "customer.merge_self"


class ImportUnsupportedFormat(RuleViolation):
    """The uploaded file is neither CSV nor XLSX."""

    code = "import.unsupported_format"
    extras = {
        "accepted": _texts("The formats the import reads", ["text/csv (UTF-8, UTF-8 with BOM, GBK/GB18030)"])
    }


class ImportUnreadable(RuleViolation):
    """The uploaded file cannot be read as the format it claims."""

    code = "import.unreadable"


class ImportTooLarge(TooLarge):
    """The uploaded file has more bytes or rows than an import takes."""

    code = "import.too_large"
    extras = {
        "max_bytes": _int("Largest file accepted, in bytes", 10485760),
        "max_rows": _int("Most data rows accepted", 10000),
    }


class ImportEmpty(RuleViolation):
    """The uploaded file has no header row or no rows."""

    code = "import.empty"


class ImportMissingColumns(RuleViolation):
    """The header row lacks a column the import needs."""

    code = "import.missing_columns"
    extras = {
        "missing": _texts("The columns needed", ["name"]),
        "unknown_columns": _texts("Header cells that name no known column", ["备注2"]),
    }


class ImportRowsRejected(RuleViolation):
    """An all-or-nothing import found rejected or duplicate rows; nothing was imported."""

    code = "import.rejected"
    extras = {
        "report": Extra(
            "object",
            "The import report (rows, rejected, duplicates, …)",
            {"rows": 3, "imported": 0, "rejected": [{"row": 2, "errors": []}]},
        )
    }


class ActivityAlreadyExists(Conflict):
    """An activity with the id the client chose exists already."""

    code = "activity.already_exists"
    extras = {"id": _text("The id given", "0b5e…")}


class TaskAlreadyExists(Conflict):
    """A task with the id the client chose exists already."""

    code = "task.already_exists"
    extras = {"id": _text("The id given", "0b5e…")}


class TaskInvalidAssignee(RuleViolation):
    """A task's assignee must be an active user who works on tasks."""

    code = "task.invalid_assignee"
    extras = {"assignee_id": _text("The assignee id given", "981012ee-…")}


# --------------------------------------------------------------------------- funnel and pool

_FROM = _text("The customer's current stage", "contacted")
_TO = _text("The stage asked for", "graded")


class InvalidTransition(Conflict):
    """The target stage cannot be reached from the current one (whatever the facts)."""

    code = "funnel.invalid_transition"
    title = "Invalid funnel transition"
    extras = {
        "allowed": _texts("The stages that can be reached from here", ["graded", "abandoned"]),
        "from": _FROM,
        "to": _TO,
    }


class RequirementUnmet(RuleViolation):
    """The move is allowed but something it needs is missing; ``missing`` names it."""

    code = "funnel.requirement_unmet"
    title = "Funnel requirement unmet"
    extras = {
        "missing": _texts("What the move needs", ["grade", "target_amount"]),
        "from": _FROM,
        "to": _TO,
        "abandon_reasons": _texts(
            "The reason codes an abandonment takes",
            ["refused", "unreachable", "unsuitable", "bought_competitor"],
        ),
    }


class CooldownActive(Conflict):
    """Reactivation of an abandoned customer before its cooldown has ended."""

    code = "funnel.cooldown_active"
    title = "Customer in cooldown"
    extras = {"cooldown_until": _text("When the cooldown ends (ISO 8601)", "2026-12-20T00:00:00+00:00")}


class NotAbandoned(RuleViolation):
    """Only an abandoned customer's abandonment can be reviewed."""

    code = "funnel.not_abandoned"


class ReactivationOutOfScope(Forbidden):
    """A manager reactivates only customers whose last owner is in their team or its
    sub-teams."""

    code = "funnel.reactivation_out_of_scope"


class AlreadyReviewed(Conflict):
    """This abandonment has been reviewed already."""

    code = "funnel.already_reviewed"


class QuotaExceeded(Conflict):
    """The owner already holds ``max_active_customers`` in the active stages."""

    code = "pool.quota_exceeded"
    title = "Holding limit reached"
    extras = {
        "limit": _int("The holding limit", 50),
        "active": _int("Active customers held", 50),
        "discovery_bonus": _int("Own finds allowed past the limit (an own find only)", 5),
    }


class AlreadyClaimed(Conflict):
    """The customer has an owner (someone else won the claim)."""

    code = "pool.already_claimed"
    title = "Customer already claimed"


class InCooldown(Conflict):
    """The customer was abandoned and nobody may take it until the cooldown ends."""

    code = "pool.cooldown_active"
    title = "Customer in cooldown"
    extras = {"cooldown_until": _text("When the cooldown ends (ISO 8601)", "2026-12-20T00:00:00+00:00")}


class ReclaimBlocked(Conflict):
    """The rep released this customer, or lost it to lapse, less than ``reclaim_block_days``
    ago: it goes to someone else (归续登业务员) unless a manager or director assigns it."""

    code = "pool.reclaim_blocked"
    title = "Customer recently lost by this rep"
    extras = {
        "blocked_until": _text(
            "When the rep may take the customer again (ISO 8601)", "2026-12-12T08:00:00+00:00"
        )
    }


class NotClaimable(Conflict):
    """An abandoned customer must be reactivated before anyone takes it."""

    code = "pool.not_claimable"


class NotOwned(Conflict):
    """The customer is in the pool already."""

    code = "pool.not_owned"


class NotReleasable(RuleViolation):
    """Signed and implemented customers are not returned to the pool."""

    code = "pool.not_releasable"
    extras = {"stage": _text("The customer's stage", "signed")}


class HandoverNoRecipient(RuleViolation):
    """Nobody can take the departing user's signed or implemented customers (no rep in
    scope, no manager); they never go to the pool, so nothing moves."""

    code = "handover.no_recipient"


class HandoverSameUser(RuleViolation):
    """A handover names the user who holds the customers already."""

    code = "handover.same_user"


# --------------------------------------------------------------------------- contracts and money


class ContractCustomerAbandoned(Conflict):
    """An abandoned customer gets no contract; reactivate it first."""

    code = "contract.customer_abandoned"


class ContractNumberTaken(Conflict):
    """Another contract has this number."""

    code = "contract.number_taken"
    extras = {"number": _text("The number asked for", "HT-2026-0042")}


class ContractNotDraft(Conflict):
    """Only a draft contract can be changed or signed."""

    code = "contract.not_draft"
    extras = {"contract_status": _CONTRACT_STATUS}


class ContractNotCancellable(Conflict):
    """Only a draft or signed contract can be cancelled."""

    code = "contract.not_cancellable"
    extras = {"contract_status": _CONTRACT_STATUS}


class ContractHasReceivables(Conflict):
    """A billed contract is not cancelled; settle or write off its receivables first."""

    code = "contract.has_receivables"


class ContractNotSigned(Conflict):
    """Only a signed contract can be accepted."""

    code = "contract.not_signed"
    extras = {"contract_status": _CONTRACT_STATUS}


class ReceivableContractNotSigned(Conflict):
    """Only a signed contract can be billed."""

    code = "receivable.contract_not_signed"
    extras = {"contract_status": _CONTRACT_STATUS}


class OverBilled(RuleViolation):
    """Billing this amount would exceed the contract amount."""

    code = "receivable.over_billed"
    extras = {
        "contract_amount": _money("The contract amount", "100000.00"),
        "billed": _money("Billed so far", "80000.00"),
        "remaining": _money("What can still be billed", "20000.00"),
    }


class ReceivableWrittenOff(Conflict):
    """The receivable is written off already."""

    code = "receivable.already_written_off"


class ReceivablePaid(Conflict):
    """The receivable is paid in full."""

    code = "receivable.already_paid"


class PaymentApplicationInvalid(InvalidInput):
    """An explicit payment application does not fit the payment or the receivables."""

    code = "payment.allocation_invalid"


class CreditOnHold(Conflict):
    """The customer is on credit hold; no contract may be signed without an override."""

    code = "credit.on_hold"
    title = "Customer on credit hold"
    extras = {
        "max_days_overdue": _int("Days the oldest open receivable is overdue", 75),
        "hold_after_overdue_days": _int("Overdue days that put a customer on hold", 60),
        "manual_hold": Extra("boolean", "Whether someone put the customer on hold", False),
    }


class CreditLimitExceeded(Conflict):
    """The contract amount exceeds the customer's available credit."""

    code = "credit.limit_exceeded"
    title = "Credit limit exceeded"
    extras = {
        "limit": _money("The credit limit", "500000.00"),
        "exposure": _money("Open receivables plus signed, unbilled contracts", "420000.00"),
        "available": _money("Limit minus exposure", "80000.00"),
        "shortfall": _money("How much the amount exceeds what is available", "20000.00"),
    }


class OverrideNotAllowed(Forbidden):
    """The caller's role may not override this credit block (or not by this much)."""

    code = "credit.override_not_allowed"
    title = "Credit override not allowed"
    extras = {
        "block": _text("The code of the block refused", "credit.limit_exceeded"),
        "role": _text("The role whose authority was measured", "manager"),
        "exposure_after": _money("The exposure once the contract is signed", "120000.00"),
        "override_ceiling": _money(
            "The most exposure after signing the role may accept (absent for roles that never override)",
            "100000.00",
        ),
        "required_role": _text("The lowest role that may approve (an override request)", "finance"),
        "shortfall": _money("The shortfall (a limit block)", "20000.00"),
        "manager_limit_max": _money("The most a manager may override", "100000.00"),
    }


class OverrideReasonRequired(InvalidInput):
    """A credit override must say why."""

    code = "credit.override_reason_required"


class ApprovalNotAllowed(Forbidden):
    """The approver's role may not approve a limit this large."""

    code = "credit.approval_not_allowed"
    title = "Credit limit approval not allowed"
    extras = {
        "role": _text("The caller's role", "manager"),
        "requested_limit": _money("The limit asked for", "800000.00"),
        "required_role": _text("The lowest role that may approve it", "finance"),
    }


class SelfApproval(Forbidden):
    """Nobody approves their own limit request."""

    code = "credit.self_approval"
    title = "Self approval not allowed"


class RefundExceedsBalance(Conflict):
    """A refund cannot pay back more than the customer's credit balance."""

    code = "credit.refund_exceeds_balance"
    title = "Refund exceeds the credit balance"
    extras = {
        "credit_balance": _money("The customer's credit balance", "300.00"),
        "amount": _money("The refund asked for", "500.00"),
    }


class RequestNotPending(Conflict):
    """Only a pending limit or override request can be decided."""

    code = "credit.request_not_pending"
    title = "Credit limit request not pending"
    extras = {"request_status": _text("The request's status", "approved")}


# --------------------------------------------------------------------------- sync


class SyncBatchTooLarge(TooLarge):
    """A push carries more changes than one batch takes."""

    code = "sync.batch_too_large"
    extras = {"limit": _int("Most changes in one push", 500), "size": _int("Changes sent", 501)}


class SyncRecordDeleted(Conflict):
    """The record was deleted on the server; the next pull brings its tombstone."""

    code = "sync.record_deleted"


class SyncInvalidCursor(BadRequest):
    """A sync cursor that is malformed or was issued to another user."""

    code = "sync.invalid_cursor"


# --------------------------------------------------------------------------- integration


class MissingScope(Forbidden):
    """The API key lacks the scope this path needs, or API keys may not call it at all."""

    code = "forbidden.scope"
    title = "Missing scope"
    extras = {
        "required_scope": Extra(
            "string",
            "The scope the path needs (null when no key may call it, or keys may only read it)",
            "contracts:read",
        )
    }


class ApiKeyTeamNotFound(RuleViolation):
    """The team an API key is restricted to does not exist."""

    code = "api_key.team_not_found"
    extras = {"team_id": _text("The team id given", "5f0c…")}


class ApiKeyRevoked(RuleViolation):
    """A revoked API key cannot be rotated; issue a new one."""

    code = "api_key.revoked"


class ChangesScopeRestricted(Forbidden):
    """The change feed covers every record: a caller limited to a team or to their own
    records pulls the lists with ``updated_since`` instead."""

    code = "changes.scope_restricted"


class CursorExpired(Gone):
    """The change-feed cursor is older than the retained log; resync from a fresh cursor."""

    code = "changes.cursor_expired"
    extras = {"purged_through": _int("The last sequence number no longer kept", 41250)}


class WebhookDeliverySucceeded(RuleViolation):
    """A delivery that succeeded is not retried."""

    code = "webhook.delivery_succeeded"


class ReportInvalidPeriod(InvalidInput):
    """A report period whose `from` is not before `to`, longer than 3 years, or outside 1970–2100."""

    code = "report.invalid_period"


class TargetExists(Conflict):
    """A target for this period, subject, product and region exists already."""

    code = "target.duplicate"


class TargetHasChildren(Conflict):
    """A target that other targets decompose cannot be deleted."""

    code = "target.has_children"


class TargetInvalidParent(RuleViolation):
    """A parent target that is not one level up, of the same period, containing the subject."""

    code = "target.invalid_parent"


def catalogue() -> list[type[DomainError]]:
    """Every error the service can answer, in the order declared above."""
    return [
        value
        for value in globals().values()
        if isinstance(value, type)
        and issubclass(value, DomainError)
        and value is not DomainError
        and value.__module__ == __name__
    ]
