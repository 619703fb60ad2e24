"""The demo organisation: a region under a director, two teams with a manager and two reps
each, support and finance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.db.models import Team, User
from app.db.uow import UnitOfWork
from app.domain.roles import Role

PEOPLE: list[tuple[str, Role, str | None, str]] = [
    ("admin", Role.admin, None, "系统管理员 Admin"),
    ("director", Role.director, "region", "王总监 Director Wang"),
    ("manager1", Role.manager, "east", "李经理 Manager Li"),
    ("manager2", Role.manager, "west", "赵经理 Manager Zhao"),
    ("rep1", Role.rep, "east", "张伟 Zhang Wei"),
    ("rep2", Role.rep, "east", "刘洋 Liu Yang"),
    ("rep3", Role.rep, "west", "陈静 Chen Jing"),
    ("rep4", Role.rep, "west", "杨帆 Yang Fan"),
    ("support", Role.support, None, "支持组 Support"),
    ("finance", Role.finance, None, "财务 Finance"),
]
REP_NAMES = ("rep1", "rep2", "rep3", "rep4")


@dataclass
class Org:
    teams: dict[str, Team]
    users: dict[str, User]

    @property
    def reps(self) -> list[User]:
        return [self.users[name] for name in REP_NAMES]

    @property
    def support(self) -> User:
        return self.users["support"]

    def manager_of(self, rep: User) -> User:
        return self.users["manager1" if rep.team_id == self.teams["east"].id else "manager2"]


async def seed_org(uow: UnitOfWork, password_hash: str) -> Org:
    region_id, east_id, west_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    teams = {
        "region": Team(id=region_id, name="华东大区 East China", path=f"/{region_id}/"),
        "east": Team(
            id=east_id, name="上海一组 Shanghai Group", parent_id=region_id, path=f"/{region_id}/{east_id}/"
        ),
        "west": Team(
            id=west_id, name="杭州二组 Hangzhou Group", parent_id=region_id, path=f"/{region_id}/{west_id}/"
        ),
    }
    for team in teams.values():
        uow.teams.add(team)
    await uow.flush()
    users: dict[str, User] = {}
    for username, role, team_key, full_name in PEOPLE:
        user = User(
            id=uuid.uuid4(),
            username=username,
            role=role.value,
            team_id=teams[team_key].id if team_key else None,
            full_name=full_name,
            password_hash=password_hash,
            email=f"{username}@demo.example",
        )
        uow.users.add(user)
        users[username] = user
    await uow.flush()
    teams["region"].manager_id = users["director"].id
    teams["east"].manager_id = users["manager1"].id
    teams["west"].manager_id = users["manager2"].id
    return Org(teams=teams, users=users)
