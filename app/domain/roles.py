"""Roles, the caller as the domain sees it, and which role may do what (SPEC §2)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    director = "director"
    manager = "manager"
    rep = "rep"
    support = "support"
    finance = "finance"
    integration = "integration"


class Scope(StrEnum):
    """How much customer data a role sees."""

    all = "all"
    team = "team"  # the manager's teams and their descendants
    own = "own"  # the rep's own customers (plus the pool, where a path says so)


DATA_SCOPE: dict[Role, Scope] = {
    Role.admin: Scope.all,
    Role.director: Scope.all,
    Role.manager: Scope.team,
    Role.rep: Scope.own,
    Role.support: Scope.all,
    Role.finance: Scope.all,
    Role.integration: Scope.all,
}

# Roles that only read, whatever the route: every write answers 403 for them (SPEC §2).
READ_ONLY_ROLES = frozenset({Role.integration})

# Roles that may change customer master data (finance and integrations only read it).
MASTER_DATA_WRITERS = frozenset({Role.admin, Role.director, Role.manager, Role.rep, Role.support})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: who they are and which teams their scope covers."""

    user_id: uuid.UUID
    role: Role
    team_id: uuid.UUID | None
    # For managers: every team they manage plus descendants. Empty for other roles.
    team_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    # Set when the caller is an API key: which key, the scopes it holds, and (for a key
    # restricted to a team) the narrower data scope it sees instead of its role's.
    key_id: uuid.UUID | None = None
    key_scopes: frozenset[str] | None = None
    restricted_scope: Scope | None = None

    @property
    def scope(self) -> Scope:
        return self.restricted_scope or DATA_SCOPE[self.role]

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


def can_edit_customer(principal: Principal, *, owner_id: uuid.UUID | None) -> bool:
    """Master data of a visible customer: reps change only their own; finance never."""
    if principal.role not in MASTER_DATA_WRITERS:
        return False
    if principal.role is Role.rep:
        return owner_id == principal.user_id
    return True


def masks_contact_details(principal: Principal, *, owner_id: uuid.UUID | None) -> bool:
    """Reps see a pool customer's phones, emails and messaging ids only once they claim it."""
    return principal.role is Role.rep and owner_id is None


# Roles that may create a customer despite a duplicate warning (``allow_duplicate=true``).
DUPLICATE_OVERRIDERS = frozenset({Role.support, Role.director})
# Roles that merge duplicates, import and bulk-manage the pool.
MASTER_DATA_STEWARDS = frozenset({Role.support, Role.director})
