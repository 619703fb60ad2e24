"""Versioned policy settings (funnel, pool, credit, grading, service) stored as documents,
defaults from the SPEC."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from app.db.base import utcnow
from app.db.models import Setting, SettingHistory
from app.db.uow import UnitOfWork
from app.domain.credit import (
    DEFAULT_CREDIT_POLICY,
    AgingBucket,
    CreditPolicy,
    default_limit,
    validate_credit_policy,
)
from app.domain.errors import InvalidInput
from app.domain.funnel import (
    DEFAULT_FUNNEL_POLICY,
    FunnelPolicy,
    IdealStep,
    Stage,
    validate_funnel_policy,
)
from app.domain.grading import DEFAULT_GRADING_POLICY, GradingPolicy, validate_grading_policy
from app.domain.ownership import DEFAULT_POOL_POLICY, PoolPolicy, validate_pool_policy
from app.domain.reports import (
    DEFAULT_ANOMALY_POLICY,
    AnomalyPolicy,
    validate_anomaly_policy,
)
from app.domain.roles import Principal
from app.domain.service import (
    DEFAULT_SERVICE_POLICY,
    ServicePolicy,
    Severity,
    validate_service_policy,
)
from app.services.common import check_version


@dataclasses.dataclass(frozen=True, slots=True)
class Versioned:
    value: dict[str, Any]
    version: int


# --- documents <-> policies ------------------------------------------------------------------


def funnel_to_doc(policy: FunnelPolicy) -> dict[str, Any]:
    return {
        "stall_factor": str(policy.stall_factor),
        "steps": [
            {
                "from_stage": s.from_stage.value,
                "to_stage": s.to_stage.value,
                "ideal_days": str(s.ideal_days),
                "ideal_conversion": None if s.ideal_conversion is None else str(s.ideal_conversion),
                "ideal_holding_per_rep": s.ideal_holding_per_rep,
            }
            for s in policy.steps
        ],
    }


def funnel_from_doc(doc: dict[str, Any]) -> FunnelPolicy:
    try:
        steps = tuple(
            IdealStep(
                from_stage=Stage(s["from_stage"]),
                to_stage=Stage(s["to_stage"]),
                ideal_days=Decimal(str(s["ideal_days"])),
                ideal_conversion=None
                if s.get("ideal_conversion") is None
                else Decimal(str(s["ideal_conversion"])),
                ideal_holding_per_rep=s.get("ideal_holding_per_rep"),
            )
            for s in doc["steps"]
        )
        return FunnelPolicy(steps=steps, stall_factor=Decimal(str(doc["stall_factor"])))
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidInput(
            "The funnel settings are not valid",
            errors=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}],
        ) from exc


def pool_to_doc(policy: PoolPolicy) -> dict[str, Any]:
    return dataclasses.asdict(policy)


def pool_from_doc(doc: dict[str, Any]) -> PoolPolicy:
    try:
        return PoolPolicy(**doc)
    except TypeError as exc:
        raise InvalidInput(
            "The pool settings are not valid",
            errors=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}],
        ) from exc


# The credit document also carries ``default_credit_limit`` (the limit a customer's credit
# profile starts with); it is a deployment default, not part of the domain policy.
DEFAULT_CREDIT_LIMIT = Decimal("0.00")


def credit_to_doc(
    policy: CreditPolicy, *, default_credit_limit: Decimal = DEFAULT_CREDIT_LIMIT
) -> dict[str, Any]:
    return {
        "manager_limit_max": f"{policy.manager_limit_max:.2f}",
        "finance_limit_max": f"{policy.finance_limit_max:.2f}",
        "hold_after_overdue_days": policy.hold_after_overdue_days,
        "warn_ratio": str(policy.warn_ratio),
        "default_payment_terms_days": policy.default_payment_terms_days,
        "renewal_notice_days": policy.renewal_notice_days,
        "default_credit_limit": f"{default_credit_limit:.2f}",
        "min_repayment_rate": str(policy.min_repayment_rate),
        "provision_rates": {
            b.value: str(policy.provision_rates[b]) for b in AgingBucket if b in policy.provision_rates
        },
        "collection_actions": {
            b.value: policy.collection_actions[b] for b in AgingBucket if b in policy.collection_actions
        },
        "grade_factors": {g: str(f) for g, f in policy.grade_factors.items()},
        "default_limits_by_grade": {g: f"{v:.2f}" for g, v in policy.default_limits_by_grade.items()},
    }


def _credit_error(exc: Exception) -> InvalidInput:
    return InvalidInput(
        "The credit settings are not valid",
        errors=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}],
    )


def _finite(value: Any) -> Decimal:
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value}")
    return number


def credit_from_doc(doc: dict[str, Any]) -> CreditPolicy:
    try:
        return CreditPolicy(
            manager_limit_max=_finite(doc["manager_limit_max"]),
            finance_limit_max=_finite(doc["finance_limit_max"]),
            hold_after_overdue_days=int(doc["hold_after_overdue_days"]),
            warn_ratio=_finite(doc["warn_ratio"]),
            default_payment_terms_days=int(doc["default_payment_terms_days"]),
            renewal_notice_days=int(doc.get("renewal_notice_days", 60)),
            min_repayment_rate=_finite(doc["min_repayment_rate"]),
            provision_rates={AgingBucket(k): _finite(v) for k, v in doc["provision_rates"].items()},
            collection_actions={AgingBucket(k): str(v) for k, v in doc["collection_actions"].items()},
            grade_factors={str(k): _finite(v) for k, v in doc["grade_factors"].items()},
            # Documents stored before the setting existed get the defaults.
            **(
                {
                    "default_limits_by_grade": {
                        str(k): _finite(v) for k, v in doc["default_limits_by_grade"].items()
                    }
                }
                if "default_limits_by_grade" in doc
                else {}
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise _credit_error(exc) from exc


def default_credit_limit_from_doc(doc: dict[str, Any]) -> Decimal:
    try:
        value = Decimal(str(doc.get("default_credit_limit", DEFAULT_CREDIT_LIMIT)))
    except ArithmeticError as exc:
        raise _credit_error(exc) from exc
    if not value.is_finite() or value < 0:
        raise InvalidInput(
            "The credit settings are not valid",
            errors=[
                {
                    "loc": ["body", "default_credit_limit"],
                    "msg": "must be a non-negative amount",
                    "type": "value_error",
                }
            ],
        )
    return value.quantize(Decimal("0.01"))


def _validate_credit(doc: dict[str, Any]) -> dict[str, Any]:
    limit = default_credit_limit_from_doc(doc)
    return credit_to_doc(validate_credit_policy(credit_from_doc(doc)), default_credit_limit=limit)


_GRADING_FIELDS = ("signed_amount_thresholds", "repayment_rate_thresholds", "outstanding_thresholds")


def grading_to_doc(policy: GradingPolicy) -> dict[str, Any]:
    doc: dict[str, Any] = {name: [str(v) for v in getattr(policy, name)] for name in _GRADING_FIELDS}
    doc.update(
        grade_a_min_total=policy.grade_a_min_total,
        grade_b_min_total=policy.grade_b_min_total,
        trailing_months=policy.trailing_months,
        min_trading_days=policy.min_trading_days,
    )
    return doc


def grading_from_doc(doc: dict[str, Any], *, version: int = 1) -> GradingPolicy:
    try:
        return GradingPolicy(
            version=version,
            **{name: tuple(Decimal(str(v)) for v in doc[name]) for name in _GRADING_FIELDS},
            grade_a_min_total=int(doc["grade_a_min_total"]),
            grade_b_min_total=int(doc["grade_b_min_total"]),
            trailing_months=int(doc["trailing_months"]),
            min_trading_days=int(doc["min_trading_days"]),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidInput(
            "The grading settings are not valid",
            errors=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}],
        ) from exc


def service_to_doc(policy: ServicePolicy) -> dict[str, Any]:
    return {
        name: {s.value: getattr(policy, name)[s] for s in Severity}
        for name in ("respond_within_hours", "resolve_within_days")
    }


def service_from_doc(doc: dict[str, Any]) -> ServicePolicy:
    try:
        return ServicePolicy(
            **{
                name: {Severity(k): v for k, v in doc[name].items()}
                for name in ("respond_within_hours", "resolve_within_days")
            }
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(
            "The service settings are not valid",
            errors=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}],
        ) from exc


def reports_to_doc(policy: AnomalyPolicy) -> dict[str, Any]:
    return {
        name: value if isinstance(value, int) else str(value)
        for name, value in dataclasses.asdict(policy).items()
    }


def reports_from_doc(doc: dict[str, Any]) -> AnomalyPolicy:
    try:
        return AnomalyPolicy(
            **{
                name: int(doc[name]) if name == "low_conversion_min_entered" else _finite(doc[name])
                for name in (f.name for f in dataclasses.fields(AnomalyPolicy))
            }
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidInput(
            "The report settings are not valid",
            errors=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}],
        ) from exc


_DEFAULTS = {
    "funnel": funnel_to_doc(DEFAULT_FUNNEL_POLICY),
    "pool": pool_to_doc(DEFAULT_POOL_POLICY),
    "credit": credit_to_doc(DEFAULT_CREDIT_POLICY),
    "grading": grading_to_doc(DEFAULT_GRADING_POLICY),
    "service": service_to_doc(DEFAULT_SERVICE_POLICY),
    "reports": reports_to_doc(DEFAULT_ANOMALY_POLICY),
}
_VALIDATE = {
    "funnel": lambda doc: funnel_to_doc(validate_funnel_policy(funnel_from_doc(doc))),
    "pool": lambda doc: pool_to_doc(validate_pool_policy(pool_from_doc(doc))),
    "credit": _validate_credit,
    "grading": lambda doc: grading_to_doc(validate_grading_policy(grading_from_doc(doc))),
    "service": lambda doc: service_to_doc(validate_service_policy(service_from_doc(doc))),
    "reports": lambda doc: reports_to_doc(validate_anomaly_policy(reports_from_doc(doc))),
}


# --- loading inside other use cases ----------------------------------------------------------


async def _document(uow: UnitOfWork, key: str) -> Versioned:
    stored = await uow.settings.get(key)
    if stored is None:
        return Versioned(value=_DEFAULTS[key], version=0)
    return Versioned(value=stored.value, version=stored.version)


async def funnel_policy_in(uow: UnitOfWork) -> FunnelPolicy:
    return funnel_from_doc((await _document(uow, "funnel")).value)


async def pool_policy_in(uow: UnitOfWork) -> PoolPolicy:
    return pool_from_doc((await _document(uow, "pool")).value)


async def credit_policy_in(uow: UnitOfWork) -> CreditPolicy:
    return credit_from_doc((await _document(uow, "credit")).value)


async def grading_policy_in(uow: UnitOfWork) -> GradingPolicy:
    """The scorecard policy; its version is the settings version + 1 (1 = the defaults)."""
    doc = await _document(uow, "grading")
    return grading_from_doc(doc.value, version=doc.version + 1)


async def service_policy_in(uow: UnitOfWork) -> ServicePolicy:
    return service_from_doc((await _document(uow, "service")).value)


async def anomaly_policy_in(uow: UnitOfWork) -> AnomalyPolicy:
    return reports_from_doc((await _document(uow, "reports")).value)


async def default_credit_limit_in(uow: UnitOfWork, grade: str | None) -> Decimal:
    """The limit of a customer (of ``grade``) that has no credit profile of its own yet."""
    doc = (await _document(uow, "credit")).value
    return default_limit(grade, credit_from_doc(doc), ungraded=default_credit_limit_from_doc(doc))


# --- the HTTP use cases ----------------------------------------------------------------------


async def get_setting(uow: UnitOfWork, actor: Principal, *, key: str) -> Versioned:
    async with uow:
        return await _document(uow, key)


async def put_setting(
    uow: UnitOfWork, actor: Principal, *, key: str, value: dict[str, Any], expected_version: int | None
) -> Versioned:
    """Replace a policy after validating it; every version is kept in history."""
    try:
        normalized = _VALIDATE[key](value)
    except InvalidInput as exc:
        # The domain names fields of the policy; clients read `loc` from the request body.
        exc.errors = [
            e if list(e["loc"])[:1] == ["body"] else {**e, "loc": ["body", *e["loc"]]} for e in exc.errors
        ]
        raise
    now = utcnow()
    async with uow:
        stored = await uow.settings.get(key, for_update=True)
        if stored is None:
            if expected_version not in (None, 0):
                check_version(Versioned(value={}, version=0), expected_version)
            stored = Setting(key=key, value=normalized, updated_at=now, updated_by=actor.user_id)
            uow.settings.add(stored)
        else:
            check_version(stored, expected_version)
            stored.value = normalized
            stored.updated_at = now
            stored.updated_by = actor.user_id
        await uow.flush()
        uow.settings.add_history(
            SettingHistory(key=key, version=stored.version, value=normalized, at=now, actor_id=actor.user_id)
        )
        await uow.commit()
        return Versioned(value=stored.value, version=stored.version)
