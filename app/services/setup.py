"""Set-up tasks the ``crm`` command runs: first users and the demo organisation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.config import get_settings
from app.db.engine import make_engine, make_session_factory
from app.db.models import Team, User
from app.db.uow import UnitOfWork
from app.domain.roles import Principal, Role
from app.services import users as users_service

DEMO_PASSWORD = "demo-pass-2026"

SYSTEM = Principal(user_id=uuid.UUID(int=0), role=Role.admin, team_id=None)


@dataclass
class SeedResult:
    password: str
    users: list[tuple[str, str]]
    summary: list[str] = field(default_factory=list)


async def create_user(*, username: str, password: str, role: str, team_id: uuid.UUID | None,
                      full_name: str) -> User:
    engine = make_engine(get_settings().database_url)
    try:
        return await users_service.create_user(
            UnitOfWork(make_session_factory(engine)), SYSTEM, username=username,
            password=password, role=Role(role), team_id=team_id, full_name=full_name,
        )
    finally:
        await engine.dispose()


async def seed_demo(*, if_empty: bool = False) -> SeedResult | None:
    engine = make_engine(get_settings().database_url)
    try:
        return await seed_demo_with(UnitOfWork(make_session_factory(engine)), if_empty=if_empty)
    finally:
        await engine.dispose()


async def seed_demo_with(uow: UnitOfWork, *, if_empty: bool) -> SeedResult | None:
    from app.services import security

    password_hash = security.hash_password(DEMO_PASSWORD)
    async with uow:
        if if_empty and await uow.users.any_exists():
            return None
        region_id, east_id, west_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        region = Team(id=region_id, name="华东大区 East China", path=f"/{region_id}/")
        east = Team(id=east_id, name="上海一组 Shanghai Group", parent_id=region_id,
                    path=f"/{region_id}/{east_id}/")
        west = Team(id=west_id, name="杭州二组 Hangzhou Group", parent_id=region_id,
                    path=f"/{region_id}/{west_id}/")
        for team in (region, east, west):
            uow.teams.add(team)
        await uow.flush()

        people = [
            ("admin", Role.admin, None, "系统管理员 Admin"),
            ("director", Role.director, region_id, "王总监 Director Wang"),
            ("manager1", Role.manager, east_id, "李经理 Manager Li"),
            ("manager2", Role.manager, west_id, "赵经理 Manager Zhao"),
            ("rep1", Role.rep, east_id, "张伟 Zhang Wei"),
            ("rep2", Role.rep, east_id, "刘洋 Liu Yang"),
            ("rep3", Role.rep, west_id, "陈静 Chen Jing"),
            ("rep4", Role.rep, west_id, "杨帆 Yang Fan"),
            ("support", Role.support, None, "支持组 Support"),
            ("finance", Role.finance, None, "财务 Finance"),
        ]
        created: dict[str, User] = {}
        for username, role, team_id, full_name in people:
            user = User(username=username, role=role.value, team_id=team_id,
                        full_name=full_name, password_hash=password_hash,
                        email=f"{username}@demo.example")
            uow.users.add(user)
            created[username] = user
        await uow.flush()
        region.manager_id = created["director"].id
        east.manager_id = created["manager1"].id
        west.manager_id = created["manager2"].id
        await uow.commit()
        return SeedResult(password=DEMO_PASSWORD,
                          users=[(u, r.value) for u, r, _, _ in people],
                          summary=["teams: 华东大区 → 上海一组 (manager1), 杭州二组 (manager2)"])
