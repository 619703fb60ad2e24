"""Teams: the tree, who may change it, the scope of each role, and If-Match."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from tests.support.builders import (
    access_headers,
    assert_problem,
    make_team,
    make_user,
    set_team_manager,
    walk_pages,
)

TEAMS = "/api/v1/teams"


@pytest.fixture
async def org(uow_factory):
    """region → group → squad managed by ``manager``; ``other`` → ``other_child`` elsewhere."""
    region = await make_team(uow_factory, name="region")
    group = await make_team(uow_factory, name="group", parent=region)
    squad = await make_team(uow_factory, name="squad", parent=group)
    other = await make_team(uow_factory, name="other")
    other_child = await make_team(uow_factory, name="other-child", parent=other)
    manager = await make_user(uow_factory, role="manager", team=region)
    await set_team_manager(uow_factory, region, manager)
    rep = await make_user(uow_factory, role="rep", team=group)
    other_rep = await make_user(uow_factory, role="rep", team=other_child)
    admin = await make_user(uow_factory, role="admin")
    director = await make_user(uow_factory, role="director")
    return SimpleNamespace(
        region=region,
        group=group,
        squad=squad,
        other=other,
        other_child=other_child,
        manager=manager,
        rep=rep,
        other_rep=other_rep,
        admin=admin,
        director=director,
        all_ids={str(t.id) for t in (region, group, squad, other, other_child)},
    )


async def _team_ids(client, headers, **params) -> set[str]:
    ids = [t["id"] for t in await walk_pages(client, TEAMS, headers, **{"limit": 2, **params})]
    assert len(ids) == len(set(ids)), "a team was listed twice"
    return set(ids)


async def _user_ids(client, headers) -> set[str]:
    response = await client.get("/api/v1/users", headers=headers, params={"limit": 500})
    assert response.status_code == 200, response.text
    return {u["id"] for u in response.json()["items"]}


class TestListTeams:
    async def test_anonymous(self, client):
        assert_problem(await client.get(TEAMS), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["admin", "director"])
    async def test_all_scope_roles_see_every_team(self, client, org, role):
        assert await _team_ids(client, access_headers(getattr(org, role))) == org.all_ids

    async def test_manager_sees_the_managed_tree(self, client, org):
        ids = await _team_ids(client, access_headers(org.manager))
        assert ids == {str(org.region.id), str(org.group.id), str(org.squad.id)}

    async def test_rep_sees_own_team(self, client, org):
        assert await _team_ids(client, access_headers(org.rep)) == {str(org.group.id)}

    async def test_rep_without_team_sees_none(self, client, uow_factory):
        loner = await make_user(uow_factory, role="rep")
        assert await _team_ids(client, access_headers(loner)) == set()

    async def test_parent_filter(self, client, org):
        ids = await _team_ids(client, access_headers(org.admin), parent_id=str(org.region.id))
        assert ids == {str(org.group.id)}

    async def test_malformed_cursor(self, client, org):
        response = await client.get(TEAMS, headers=access_headers(org.admin), params={"cursor": "nope"})
        assert_problem(response, 400, "pagination.invalid_cursor")

    async def test_a_users_cursor_is_not_a_teams_cursor(self, client, org):
        users = await client.get("/api/v1/users", headers=access_headers(org.admin), params={"limit": 1})
        cursor = users.json()["next_cursor"]
        assert cursor
        response = await client.get(TEAMS, headers=access_headers(org.admin), params={"cursor": cursor})
        assert_problem(response, 400, "pagination.invalid_cursor")


class TestCreateTeam:
    async def test_anonymous(self, client):
        assert_problem(await client.post(TEAMS, json={"name": "x"}), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["director", "manager", "rep", "support", "finance"])
    async def test_only_admins(self, client, uow_factory, role):
        caller = await make_user(uow_factory, role=role)
        response = await client.post(TEAMS, json={"name": "x"}, headers=access_headers(caller))
        assert_problem(response, 403, "forbidden")

    async def test_admin_builds_a_tree_the_manager_then_sees(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        manager = await make_user(uow_factory, role="manager")
        director = await make_user(uow_factory, role="director")
        headers = access_headers(admin)
        root = await client.post(
            TEAMS, json={"name": "North", "manager_id": str(director.id)}, headers=headers
        )
        assert root.status_code == 201, root.text
        root_body = root.json()
        assert root_body["parent_id"] is None
        assert root_body["manager_id"] == str(director.id)
        assert root_body["version"] == 1
        assert root.headers["etag"] == '"1"'
        assert root.headers["location"] == f"{TEAMS}/{root_body['id']}"

        child = await client.post(
            TEAMS,
            json={"name": "North-1", "parent_id": root_body["id"], "manager_id": str(manager.id)},
            headers=headers,
        )
        assert child.status_code == 201, child.text
        assert child.json()["parent_id"] == root_body["id"]
        leaf = await client.post(
            TEAMS, json={"name": "North-1a", "parent_id": child.json()["id"]}, headers=headers
        )
        assert leaf.status_code == 201, leaf.text

        # The manager of the child sees it and its descendant, not the root.
        seen = await _team_ids(client, access_headers(manager))
        assert seen == {child.json()["id"], leaf.json()["id"]}

    @pytest.mark.parametrize("manager_kind", ["rep", "support", "admin", "inactive", "unknown"])
    async def test_manager_must_be_an_active_manager_or_director(self, client, uow_factory, manager_kind):
        admin = await make_user(uow_factory, role="admin")
        if manager_kind == "unknown":
            manager_id = uuid.uuid4()
        elif manager_kind == "inactive":
            manager_id = (await make_user(uow_factory, role="manager", is_active=False)).id
        else:
            manager_id = (await make_user(uow_factory, role=manager_kind)).id
        response = await client.post(
            TEAMS, json={"name": "T", "manager_id": str(manager_id)}, headers=access_headers(admin)
        )
        assert_problem(response, 422, "team.invalid_manager")

    async def test_unknown_parent(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        response = await client.post(
            TEAMS, json={"name": "T", "parent_id": str(uuid.uuid4())}, headers=access_headers(admin)
        )
        assert_problem(response, 422, "team.parent_not_found")

    async def test_bad_payload(self, client, uow_factory):
        admin = await make_user(uow_factory, role="admin")
        response = await client.post(
            TEAMS, json={"name": "   ", "parent_id": "nope"}, headers=access_headers(admin)
        )
        body = assert_problem(response, 422, "validation_error")
        assert {("body", "name"), ("body", "parent_id")} <= {tuple(e["loc"]) for e in body["errors"]}


class TestGetTeam:
    async def test_anonymous(self, client, org):
        assert_problem(await client.get(f"{TEAMS}/{org.region.id}"), 401, "unauthorized")

    async def test_out_of_scope_is_not_found(self, client, org):
        manager = access_headers(org.manager)
        assert_problem(await client.get(f"{TEAMS}/{org.other.id}", headers=manager), 404, "not_found")
        rep = access_headers(org.rep)
        assert_problem(await client.get(f"{TEAMS}/{org.region.id}", headers=rep), 404, "not_found")

    async def test_unknown_id(self, client, org):
        response = await client.get(f"{TEAMS}/{uuid.uuid4()}", headers=access_headers(org.admin))
        assert_problem(response, 404, "not_found")

    async def test_reads_with_etag(self, client, org):
        response = await client.get(f"{TEAMS}/{org.squad.id}", headers=access_headers(org.manager))
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == str(org.squad.id)
        assert body["parent_id"] == str(org.group.id)
        assert response.headers["etag"] == f'"{body["version"]}"'


class TestUpdateTeam:
    async def test_anonymous(self, client, org):
        assert_problem(await client.patch(f"{TEAMS}/{org.group.id}", json={"name": "x"}), 401, "unauthorized")

    @pytest.mark.parametrize("role", ["manager", "director", "rep"])
    async def test_only_admins(self, client, org, role):
        response = await client.patch(
            f"{TEAMS}/{org.group.id}", json={"name": "x"}, headers=access_headers(getattr(org, role))
        )
        assert_problem(response, 403, "forbidden")

    async def test_unknown_id(self, client, org):
        response = await client.patch(
            f"{TEAMS}/{uuid.uuid4()}", json={"name": "x"}, headers=access_headers(org.admin)
        )
        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize("new_parent", ["region", "group", "squad"])
    async def test_reparent_into_own_subtree_is_a_cycle(self, client, org, new_parent):
        headers = access_headers(org.admin)
        before = (await client.get(f"{TEAMS}/{org.region.id}", headers=headers)).json()
        response = await client.patch(
            f"{TEAMS}/{org.region.id}", json={"parent_id": str(getattr(org, new_parent).id)}, headers=headers
        )
        assert_problem(response, 422, "team.cycle")
        assert (await client.get(f"{TEAMS}/{org.region.id}", headers=headers)).json() == before
        assert await _team_ids(client, access_headers(org.manager)) == {
            str(org.region.id),
            str(org.group.id),
            str(org.squad.id),
        }

    async def test_reparent_moves_the_subtree_into_the_managers_scope(self, client, org):
        manager = access_headers(org.manager)
        assert str(org.other_rep.id) not in await _user_ids(client, manager)
        response = await client.patch(
            f"{TEAMS}/{org.other.id}",
            json={"parent_id": str(org.squad.id)},
            headers=access_headers(org.admin),
        )
        assert response.status_code == 200, response.text
        assert response.json()["parent_id"] == str(org.squad.id)
        # The descendants moved along: the manager now sees the child team and its rep.
        assert {str(org.other.id), str(org.other_child.id)} <= await _team_ids(client, manager)
        assert str(org.other_rep.id) in await _user_ids(client, manager)
        # Moving a team under its new descendant is now a cycle too.
        cycle = await client.patch(
            f"{TEAMS}/{org.region.id}",
            json={"parent_id": str(org.other_child.id)},
            headers=access_headers(org.admin),
        )
        assert_problem(cycle, 422, "team.cycle")

    async def test_reparent_to_the_root_leaves_the_managers_scope(self, client, org):
        response = await client.patch(
            f"{TEAMS}/{org.group.id}", json={"parent_id": None}, headers=access_headers(org.admin)
        )
        assert response.status_code == 200, response.text
        assert response.json()["parent_id"] is None
        assert await _team_ids(client, access_headers(org.manager)) == {str(org.region.id)}
        assert str(org.rep.id) not in await _user_ids(client, access_headers(org.manager))

    async def test_invalid_manager(self, client, org):
        response = await client.patch(
            f"{TEAMS}/{org.group.id}", json={"manager_id": str(org.rep.id)}, headers=access_headers(org.admin)
        )
        assert_problem(response, 422, "team.invalid_manager")

    async def test_if_match_current_then_stale(self, client, org):
        url = f"{TEAMS}/{org.group.id}"
        headers = access_headers(org.admin)
        etag = (await client.get(url, headers=headers)).headers["etag"]
        response = await client.patch(url, json={"name": "Renamed"}, headers={**headers, "If-Match": etag})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["name"] == "Renamed"
        assert body["version"] == int(etag.strip('"')) + 1
        assert response.headers["etag"] == f'"{body["version"]}"'

        stale = await client.patch(url, json={"name": "Lost"}, headers={**headers, "If-Match": etag})
        assert_problem(stale, 412, "conflict.version_mismatch")
        assert (await client.get(url, headers=headers)).json()["name"] == "Renamed"

    async def test_malformed_if_match(self, client, org):
        response = await client.patch(
            f"{TEAMS}/{org.group.id}",
            json={"name": "x"},
            headers={**access_headers(org.admin), "If-Match": "yesterday"},
        )
        assert_problem(response, 400, "bad_request.if_match")
