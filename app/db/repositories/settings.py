"""Settings queries: the current value of each setting and its change history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Setting, SettingHistory


class SettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str, *, for_update: bool = False) -> Setting | None:
        stmt = select(Setting).where(Setting.key == key)
        if for_update:
            stmt = stmt.with_for_update(key_share=True)
        return await self.session.scalar(stmt)

    def add(self, setting: Setting) -> None:
        self.session.add(setting)

    def add_history(self, entry: SettingHistory) -> None:
        self.session.add(entry)


__all__ = ["SettingsRepository"]
