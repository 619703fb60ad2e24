"""Offline sync rules: whose device a change reaches, and what a page of the change log asks a
device to do (upsert, delete, drop a customer that left its scope, take in one that entered).

Pure: the service feeds change-log entries in and materialises the steps that come out.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.roles import Principal, Scope

ENTITIES = ("customer", "contact", "activity", "task")
# What a device may push; customers and contacts change through the HTTP API only.
PUSHABLE = ("activity", "task")
PUSH_OPS = ("upsert", "delete")
MAX_PUSH_CHANGES = 500
DEFAULT_PULL_LIMIT = 200
MAX_PULL_LIMIT = 1000


class Action(StrEnum):
    upsert = "upsert"
    delete = "delete"
    scope_exit = "scope_exit"
    # A customer entered the scope: send it with its contacts, activities and tasks.
    enter = "enter"


@dataclass(frozen=True, slots=True)
class SyncScope:
    """The records a user's devices hold: reps their own customers (not the pool), managers
    their teams' customers (and their own), every other role all customers; each with the
    customers' contacts, activities and tasks, plus tasks without a customer assigned to
    the user (managers: to their teams; all-scope roles: every such task)."""

    kind: Scope
    user_id: uuid.UUID
    team_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @classmethod
    def of(cls, principal: Principal) -> SyncScope:
        team_ids = principal.team_ids if principal.scope is Scope.team else frozenset()
        return cls(kind=principal.scope, user_id=principal.user_id, team_ids=team_ids)

    def covers(self, owner_id: uuid.UUID | None, team_id: uuid.UUID | None) -> bool:
        """Whether a record routed to (owner, team) is in this scope."""
        if self.kind is Scope.all:
            return True
        if owner_id is not None and owner_id == self.user_id:
            return True
        return self.kind is Scope.team and team_id is not None and team_id in self.team_ids

    @property
    def fingerprint(self) -> str:
        """Changes when the scope does (a new role, other teams): old cursors then restart."""
        parts = [self.kind.value, str(self.user_id), *sorted(str(t) for t in self.team_ids)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One change-log row, as the planner needs it."""

    seq: int
    entity: str
    entity_id: uuid.UUID
    customer_id: uuid.UUID | None
    op: str
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    prev_owner_id: uuid.UUID | None = None
    prev_team_id: uuid.UUID | None = None

    @property
    def routes_itself(self) -> bool:
        """Customers, and tasks without a customer, have their own routing (and can move
        between scopes); every other record follows its customer."""
        return self.entity == "customer" or (self.entity == "task" and self.customer_id is None)


@dataclass(frozen=True, slots=True)
class Step:
    entity: str
    entity_id: uuid.UUID
    customer_id: uuid.UUID | None
    action: Action


def plan_page(scope: SyncScope, entries: Iterable[LogEntry]) -> list[Step]:
    """What a device with ``scope`` must do for a page of the change log, in seq order.

    One step per record (the latest state wins, kept at the record's first position);
    leaving and deleting customers take their pending child steps with them, because the
    device drops a customer's children along with it.
    """
    steps: dict[tuple[str, uuid.UUID], Step] = {}
    for entry in entries:
        key = (entry.entity, entry.entity_id)
        if entry.routes_itself:
            action = _own_routing_action(scope, entry)
            if action is None:
                continue
            if entry.entity == "customer" and action in (Action.delete, Action.scope_exit):
                for child in [k for k, s in steps.items() if s.customer_id == entry.entity_id and k != key]:
                    del steps[child]
            previous = steps.get(key)
            if previous is not None and previous.action is Action.enter and action is Action.upsert:
                action = Action.enter  # it still has to arrive with its children
        else:
            if not scope.covers(entry.owner_id, entry.team_id):
                continue
            action = Action.delete if entry.op == "delete" else Action.upsert
        steps[key] = Step(entry.entity, entry.entity_id, entry.customer_id, action)
    return list(steps.values())


def _own_routing_action(scope: SyncScope, entry: LogEntry) -> Action | None:
    before = scope.covers(entry.prev_owner_id, entry.prev_team_id)
    now = scope.covers(entry.owner_id, entry.team_id)
    if entry.op == "delete":
        return Action.delete if before or now else None
    if now:
        if before or entry.entity != "customer":
            return Action.upsert
        return Action.enter
    return Action.scope_exit if before else None


__all__ = [
    "DEFAULT_PULL_LIMIT",
    "ENTITIES",
    "MAX_PULL_LIMIT",
    "MAX_PUSH_CHANGES",
    "PUSHABLE",
    "PUSH_OPS",
    "Action",
    "LogEntry",
    "Step",
    "SyncScope",
    "plan_page",
]
