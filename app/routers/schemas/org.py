"""Schemas for users, teams and tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from app.domain.roles import Role
from app.routers.schemas.common import NameRule, PatchSchema, Schema

Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
]
Password = Annotated[str, Field(min_length=8, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NameRule]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), NameRule]


class UserRead(Schema):
    id: uuid.UUID
    username: str
    full_name: str
    email: str | None
    role: Role
    team_id: uuid.UUID | None
    is_active: bool
    deactivated_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class UserCreate(Schema):
    username: Username
    password: Password
    role: Role
    team_id: uuid.UUID | None = None
    full_name: FullName = ""
    email: EmailStr | None = None


class UserUpdate(PatchSchema):
    not_nullable = frozenset({"full_name", "role", "password"})

    full_name: FullName | None = None
    email: EmailStr | None = None
    role: Role | None = None
    team_id: uuid.UUID | None = None
    password: Password | None = None


class TeamRead(Schema):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    manager_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class TeamCreate(Schema):
    name: Name
    parent_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None


class TeamUpdate(PatchSchema):
    not_nullable = frozenset({"name"})

    name: Name | None = None
    parent_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None


class TokenPairRead(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshRequest(Schema):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class MeRead(UserRead):
    scope: str = Field(description="Data scope of the role: all, team or own")
    team_ids: list[uuid.UUID] = Field(description="Teams a manager's scope covers")
