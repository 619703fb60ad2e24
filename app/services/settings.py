"""Versioned policy settings (funnel, pool) stored as documents, defaults from the SPEC."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from app.db.base import utcnow
from app.db.models import Setting, SettingHistory
from app.db.uow import UnitOfWork
from app.domain.errors import InvalidInput
from app.domain.funnel import (
    DEFAULT_FUNNEL_POLICY,
    FunnelPolicy,
    IdealStep,
    Stage,
    validate_funnel_policy,
)
from app.domain.ownership import DEFAULT_POOL_POLICY, PoolPolicy, validate_pool_policy
from app.domain.roles import Principal
from app.services.common import check_version


@dataclasses.dataclass(frozen=True, slots=True)
class Versioned:
    value: dict[str, Any]
    version: int


# --- documents <-> policies ------------------------------------------------------------------


def funnel_to_doc(policy: FunnelPolicy) -> dict[str, Any]:
    return {
        "stall_factor": str(policy.stall_factor),
        "steps": [{"from_stage": s.from_stage.value, "to_stage": s.to_stage.value,
                   "ideal_days": str(s.ideal_days),
                   "ideal_conversion": None if s.ideal_conversion is None else str(s.ideal_conversion),
                   "ideal_holding_per_rep": s.ideal_holding_per_rep} for s in policy.steps],
    }


def funnel_from_doc(doc: dict[str, Any]) -> FunnelPolicy:
    try:
        steps = tuple(IdealStep(
            from_stage=Stage(s["from_stage"]), to_stage=Stage(s["to_stage"]),
            ideal_days=Decimal(str(s["ideal_days"])),
            ideal_conversion=None if s.get("ideal_conversion") is None
            else Decimal(str(s["ideal_conversion"])),
            ideal_holding_per_rep=s.get("ideal_holding_per_rep"),
        ) for s in doc["steps"])
        return FunnelPolicy(steps=steps, stall_factor=Decimal(str(doc["stall_factor"])))
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidInput("The funnel settings are not valid", errors=[{
            "loc": ["body"], "msg": str(exc), "type": "value_error"}]) from exc


def pool_to_doc(policy: PoolPolicy) -> dict[str, Any]:
    return dataclasses.asdict(policy)


def pool_from_doc(doc: dict[str, Any]) -> PoolPolicy:
    try:
        return PoolPolicy(**doc)
    except TypeError as exc:
        raise InvalidInput("The pool settings are not valid", errors=[{
            "loc": ["body"], "msg": str(exc), "type": "value_error"}]) from exc


_DEFAULTS = {"funnel": funnel_to_doc(DEFAULT_FUNNEL_POLICY), "pool": pool_to_doc(DEFAULT_POOL_POLICY)}
_VALIDATE = {
    "funnel": lambda doc: funnel_to_doc(validate_funnel_policy(funnel_from_doc(doc))),
    "pool": lambda doc: pool_to_doc(validate_pool_policy(pool_from_doc(doc))),
}


# --- loading inside other use cases ----------------------------------------------------------


async def _document(uow: UnitOfWork, key: str) -> Versioned:
    stored = await uow.funnel.setting(key)
    if stored is None:
        return Versioned(value=_DEFAULTS[key], version=0)
    return Versioned(value=stored.value, version=stored.version)


async def funnel_policy(uow: UnitOfWork) -> FunnelPolicy:
    return funnel_from_doc((await _document(uow, "funnel")).value)


async def pool_policy(uow: UnitOfWork) -> PoolPolicy:
    return pool_from_doc((await _document(uow, "pool")).value)


# --- the HTTP use cases ----------------------------------------------------------------------


async def get_setting(uow: UnitOfWork, actor: Principal, *, key: str) -> Versioned:
    async with uow:
        return await _document(uow, key)


async def put_setting(uow: UnitOfWork, actor: Principal, *, key: str, value: dict[str, Any],
                      expected_version: int | None) -> Versioned:
    """Replace a policy after validating it; every version is kept in history."""
    normalized = _VALIDATE[key](value)
    now = utcnow()
    async with uow:
        stored = await uow.funnel.setting(key, for_update=True)
        if stored is None:
            if expected_version not in (None, 0):
                check_version(Versioned(value={}, version=0), expected_version)
            stored = Setting(key=key, value=normalized, updated_at=now, updated_by=actor.user_id)
            uow.funnel.add_setting(stored)
        else:
            check_version(stored, expected_version)
            stored.value = normalized
            stored.updated_at = now
            stored.updated_by = actor.user_id
        await uow.flush()
        uow.funnel.add_setting_history(SettingHistory(key=key, version=stored.version, value=normalized,
                                                      at=now, actor_id=actor.user_id))
        await uow.commit()
        return Versioned(value=stored.value, version=stored.version)
