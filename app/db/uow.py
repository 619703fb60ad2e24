"""Unit of work: one session, its repositories, and a transaction that only commits on purpose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from app.db import changes as change_tracking
from app.db import report_aggregates
from app.db.base import utcnow
from app.db.engine import is_unavailable
from app.db.repositories.api_keys import ApiKeyRepository
from app.db.repositories.auth import (
    IdempotencyRepository,
    LoginThrottleRepository,
    RefreshTokenRepository,
)
from app.db.repositories.change_feed import ChangeFeedRepository
from app.db.repositories.contracts import ContractRepository
from app.db.repositories.credit import CreditRepository
from app.db.repositories.customers import (
    ActivityRepository,
    ContactRepository,
    CustomerRepository,
    HistoryRepository,
)
from app.db.repositories.exports import ExportRepository
from app.db.repositories.funnel import FunnelRepository
from app.db.repositories.grading import GradingRepository
from app.db.repositories.org import TeamRepository, UserRepository
from app.db.repositories.pool import PoolRepository
from app.db.repositories.receivables import ReceivableRepository
from app.db.repositories.reports import ReportRepository
from app.db.repositories.service import ComplaintRepository, SurveyRepository
from app.db.repositories.settings import SettingsRepository
from app.db.repositories.sync import ChangeLogRepository, SyncRepository
from app.db.repositories.targets import TargetRepository
from app.db.repositories.tasks import TaskRepository
from app.db.repositories.webhooks import WebhookRepository
from app.domain.errors import (
    IdempotencySuperseded,
    IntegrityConflict,
    ServiceUnavailable,
    VersionMismatch,
)

# What a 503 asks the client to wait before retrying.
RETRY_AFTER_SECONDS = 1


class UnitOfWork:
    """``async with uow:`` opens a session; leaving the block rolls back unless committed."""

    session: AsyncSession

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], *, fence: tuple[uuid.UUID, int] | None = None
    ) -> None:
        self._session_factory = session_factory
        # (idempotency record id, attempt) of the request this unit of work serves: its
        # first commit marks the key committed, or fails if a retry has taken the key over.
        self._fence = fence

    async def __aenter__(self) -> Self:
        self.session = self._session_factory()
        # Syncable rows this transaction changes; written to the change log by commit().
        self.changes = change_tracking.attach(self.session)
        # Funnel report counters follow each stage transition in the same transaction.
        report_aggregates.attach(self.session)
        self.tasks = TaskRepository(self.session)
        self.change_log = ChangeLogRepository(self.session)
        self.sync = SyncRepository(self.session)
        self.users = UserRepository(self.session)
        self.teams = TeamRepository(self.session)
        self.refresh_tokens = RefreshTokenRepository(self.session)
        self.idempotency = IdempotencyRepository(self.session)
        self.login_throttle = LoginThrottleRepository(self.session)
        self.customers = CustomerRepository(self.session)
        self.contacts = ContactRepository(self.session)
        self.activities = ActivityRepository(self.session)
        self.history = HistoryRepository(self.session)
        self.funnel = FunnelRepository(self.session)
        self.pool = PoolRepository(self.session)
        self.settings = SettingsRepository(self.session)
        self.contracts = ContractRepository(self.session)
        self.receivables = ReceivableRepository(self.session)
        self.credit = CreditRepository(self.session)
        self.grading = GradingRepository(self.session)
        self.api_keys = ApiKeyRepository(self.session)
        self.exports = ExportRepository(self.session)
        self.change_feed = ChangeFeedRepository(self.session)
        self.webhooks = WebhookRepository(self.session)
        self.complaints = ComplaintRepository(self.session)
        self.surveys = SurveyRepository(self.session)
        self.reports = ReportRepository(self.session)
        self.targets = TargetRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        unavailable = exc is not None and is_unavailable(exc)
        try:
            try:
                # Detach first: services hand loaded records back to routers after the
                # block, and a rollback would expire them.
                self.session.expunge_all()
                await self.session.rollback()
            finally:
                await self.session.close()
        except Exception:
            if not unavailable:  # else the connection is gone: nothing to roll back
                raise
        if unavailable:
            # Refused, starting up, shut down, lost mid-transaction, or no free pooled
            # connection: nothing was committed, and the client may retry.
            raise ServiceUnavailable(
                "The database is not reachable; retry the request", retry_after=RETRY_AFTER_SECONDS
            ) from exc

    async def flush(self) -> None:
        async with _translated_errors():
            await self.session.flush()

    async def commit(self) -> None:
        async with _translated_errors():
            await self.session.flush()
            if self._fence is not None:
                record_id, attempt = self._fence
                if not await self.idempotency.mark_committed(record_id, attempt=attempt, now=utcnow()):
                    raise IdempotencySuperseded(
                        "A retry with this Idempotency-Key has taken over this request"
                    )
            if self.changes.events:
                # The outbox: webhook deliveries commit (or roll back) with the change.
                await self.webhooks.enqueue(self.changes.events, at=utcnow())
            if self.changes:
                # Last thing before COMMIT: the change-log counter's row lock is held only
                # this long, and it orders commits by sequence number (gap-free pulls).
                await self.change_log.append(self.changes, at=utcnow())
            await self.session.commit()
        self.changes.clear()
        self._fence = None  # marked; later commits of the same request need not be

    async def rollback(self) -> None:
        await self.session.rollback()
        self.changes.clear()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: an error inside undoes only what was done inside (and
        what it noted for the change log), and propagates."""
        mark = self.changes.mark()
        nested = await self.session.begin_nested()
        try:
            yield
            async with _translated_errors():
                await self.session.flush()
        except BaseException:
            await nested.rollback()
            self.changes.rollback_to(mark)
            raise
        await nested.commit()


class _translated_errors:
    """Turn the database's concurrency and integrity failures into domain errors."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, StaleDataError):
            raise VersionMismatch("The record was changed by someone else; reload it") from exc
        if isinstance(exc, IntegrityError):
            raise IntegrityConflict("The change conflicts with existing data") from exc
