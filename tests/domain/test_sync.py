"""The sync planner: which change-log rows reach which scope, and what the device must do."""

from __future__ import annotations

import uuid

import pytest

from app.domain.roles import Principal, Role, Scope
from app.domain.sync import Action, LogEntry, Step, SyncScope, plan_page

ME, OTHER, THIRD = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
TEAM, OTHER_TEAM = uuid.uuid4(), uuid.uuid4()
C1, C2 = uuid.uuid4(), uuid.uuid4()

REP = SyncScope(kind=Scope.own, user_id=ME)
MANAGER = SyncScope(kind=Scope.team, user_id=ME, team_ids=frozenset({TEAM}))
DIRECTOR = SyncScope(kind=Scope.all, user_id=ME)


def customer(
    seq: int,
    owner: uuid.UUID | None,
    team: uuid.UUID | None = None,
    *,
    prev_owner: uuid.UUID | None = None,
    prev_team: uuid.UUID | None = None,
    op: str = "upsert",
    cid: uuid.UUID = C1,
) -> LogEntry:
    return LogEntry(
        seq=seq,
        entity="customer",
        entity_id=cid,
        customer_id=cid,
        op=op,
        owner_id=owner,
        team_id=team,
        prev_owner_id=prev_owner,
        prev_team_id=prev_team,
    )


def child(
    seq: int,
    entity: str,
    owner: uuid.UUID | None,
    team: uuid.UUID | None = None,
    *,
    op: str = "upsert",
    cid: uuid.UUID = C1,
    eid: uuid.UUID | None = None,
) -> LogEntry:
    return LogEntry(
        seq=seq,
        entity=entity,
        entity_id=eid or uuid.uuid4(),
        customer_id=cid,
        op=op,
        owner_id=owner,
        team_id=team,
    )


def actions(scope: SyncScope, *entries: LogEntry) -> list[tuple[str, Action]]:
    return [(s.entity, s.action) for s in plan_page(scope, entries)]


class TestScope:
    @pytest.mark.parametrize(
        ("scope", "owner", "team", "covered"),
        [
            (REP, ME, None, True),
            (REP, OTHER, TEAM, False),
            (REP, None, None, False),
            (MANAGER, OTHER, TEAM, True),
            (MANAGER, ME, OTHER_TEAM, True),
            (MANAGER, OTHER, OTHER_TEAM, False),
            (MANAGER, None, None, False),
            (DIRECTOR, None, None, True),
            (DIRECTOR, OTHER, OTHER_TEAM, True),
        ],
    )
    def test_covers(self, scope, owner, team, covered):
        assert scope.covers(owner, team) is covered

    def test_of_principal(self):
        rep = SyncScope.of(Principal(user_id=ME, role=Role.rep, team_id=TEAM))
        assert rep.kind is Scope.own and rep.team_ids == frozenset()
        manager = SyncScope.of(
            Principal(user_id=ME, role=Role.manager, team_id=TEAM, team_ids=frozenset({TEAM, OTHER_TEAM}))
        )
        assert manager.team_ids == {TEAM, OTHER_TEAM}
        for role in (Role.director, Role.admin, Role.support, Role.finance):
            assert SyncScope.of(Principal(user_id=ME, role=role, team_id=None)).kind is Scope.all

    def test_fingerprint_follows_the_scope(self):
        assert REP.fingerprint == SyncScope(kind=Scope.own, user_id=ME).fingerprint
        assert REP.fingerprint != MANAGER.fingerprint
        moved = SyncScope(kind=Scope.team, user_id=ME, team_ids=frozenset({OTHER_TEAM}))
        assert moved.fingerprint != MANAGER.fingerprint


class TestCustomerRows:
    @pytest.mark.parametrize(
        ("scope", "entry", "expected"),
        [
            # created for me / claimed from the pool: enters with its children
            (REP, customer(1, ME), Action.enter),
            (REP, customer(1, ME, prev_owner=None), Action.enter),
            # changed while mine
            (REP, customer(1, ME, prev_owner=ME), Action.upsert),
            # reassigned away / released to the pool
            (REP, customer(1, OTHER, prev_owner=ME), Action.scope_exit),
            (REP, customer(1, None, prev_owner=ME), Action.scope_exit),
            # someone else's, before and after
            (REP, customer(1, OTHER, prev_owner=THIRD), None),
            (REP, customer(1, None), None),
            # deleted while mine; deleted while someone else's
            (REP, customer(1, ME, prev_owner=ME, op="delete"), Action.delete),
            (REP, customer(1, OTHER, prev_owner=OTHER, op="delete"), None),
            # managers: moving between reps of the team is an update, out of the team an exit
            (MANAGER, customer(1, THIRD, TEAM, prev_owner=OTHER, prev_team=TEAM), Action.upsert),
            (MANAGER, customer(1, THIRD, OTHER_TEAM, prev_owner=OTHER, prev_team=TEAM), Action.scope_exit),
            (MANAGER, customer(1, OTHER, TEAM, prev_owner=None, prev_team=None), Action.enter),
            (MANAGER, customer(1, None, None, prev_owner=OTHER, prev_team=TEAM), Action.scope_exit),
            # all-scope roles hold every customer: nothing enters or leaves
            (DIRECTOR, customer(1, OTHER), Action.upsert),
            (DIRECTOR, customer(1, None, prev_owner=OTHER), Action.upsert),
            (DIRECTOR, customer(1, None, op="delete"), Action.delete),
        ],
    )
    def test_action(self, scope, entry, expected):
        assert actions(scope, entry) == ([] if expected is None else [("customer", expected)])


class TestChildRows:
    @pytest.mark.parametrize(
        ("scope", "owner", "team", "op", "expected"),
        [
            (REP, ME, None, "upsert", Action.upsert),
            (REP, ME, None, "delete", Action.delete),
            (REP, OTHER, TEAM, "upsert", None),
            (REP, None, None, "upsert", None),
            (MANAGER, OTHER, TEAM, "upsert", Action.upsert),
            (MANAGER, OTHER, OTHER_TEAM, "delete", None),
            (DIRECTOR, None, None, "delete", Action.delete),
        ],
    )
    @pytest.mark.parametrize("entity", ["contact", "activity", "task"])
    def test_follow_the_customer(self, scope, owner, team, op, expected, entity):
        got = actions(scope, child(1, entity, owner, team, op=op))
        assert got == ([] if expected is None else [(entity, expected)])

    def test_task_without_customer_routes_by_assignee(self):
        task = uuid.uuid4()

        def loose(owner, prev, op="upsert"):
            return LogEntry(
                seq=1,
                entity="task",
                entity_id=task,
                customer_id=None,
                op=op,
                owner_id=owner,
                team_id=None,
                prev_owner_id=prev,
            )

        assert actions(REP, loose(ME, None)) == [("task", Action.upsert)]
        assert actions(REP, loose(OTHER, ME)) == [("task", Action.scope_exit)]
        assert actions(REP, loose(OTHER, THIRD)) == []
        assert actions(REP, loose(ME, ME, op="delete")) == [("task", Action.delete)]


class TestPages:
    def test_latest_state_wins_at_the_first_position(self):
        activity = uuid.uuid4()
        steps = plan_page(
            REP,
            [
                child(1, "activity", ME, eid=activity),
                child(2, "contact", ME),
                child(3, "activity", ME, eid=activity, op="delete"),
            ],
        )
        assert [(s.entity, s.action) for s in steps] == [
            ("activity", Action.delete),
            ("contact", Action.upsert),
        ]
        assert steps[0].entity_id == activity

    def test_leaving_takes_pending_children_along(self):
        steps = plan_page(
            REP,
            [
                customer(1, ME, prev_owner=ME),
                child(2, "activity", ME),
                child(3, "contact", ME, cid=C2),
                customer(4, OTHER, prev_owner=ME),
                child(5, "activity", OTHER),
            ],
        )
        assert [(s.entity, s.customer_id, s.action) for s in steps] == [
            ("customer", C1, Action.scope_exit),
            ("contact", C2, Action.upsert),
        ]

    def test_entering_then_changing_still_brings_the_children(self):
        steps = plan_page(REP, [customer(1, ME), customer(2, ME, prev_owner=ME)])
        assert steps == [Step("customer", C1, C1, Action.enter)]

    def test_leaving_and_coming_back(self):
        steps = plan_page(
            REP,
            [
                customer(1, ME, prev_owner=ME),
                child(2, "task", ME),
                customer(3, OTHER, prev_owner=ME),
                customer(4, ME, prev_owner=OTHER),
            ],
        )
        assert [(s.entity, s.action) for s in steps] == [("customer", Action.enter)]

    def test_deleting_drops_pending_children(self):
        steps = plan_page(REP, [child(1, "contact", ME), customer(2, ME, prev_owner=ME, op="delete")])
        assert [(s.entity, s.action) for s in steps] == [("customer", Action.delete)]
