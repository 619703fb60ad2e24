"""Customers, contacts, activities and history — every query limited to the caller's scope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    any_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.changes import note_changed
from app.db.models import Activity, Contact, ContactPoint, Customer, CustomerHistory
from app.db.repositories.lookup import by_id
from app.db.repositories.pagination import Page, ordered, page_window, paginate, to_page
from app.domain.funnel import ACTIVE_STAGES
from app.domain.roles import Principal, Scope

CustomerSort = Literal["updated_at", "-updated_at", "name", "-name"]
# Duplicate-detection keys share a fixed set of advisory-lock slots (two-int form, own key
# space): an import of 10,000 rows takes at most this many locks, where one lock per key
# would overflow PostgreSQL's shared lock table ("out of shared memory").
_KEY_LOCK_SPACE = 0x4B455953
_KEY_LOCK_SLOTS = 1024
# A name search reads every match of its fragment up to this many; a fragment with more
# (有限公司) is searched by walking the listing order instead, which is cheaper for it.
_SEARCH_MATCH_CAP = 5000


def customer_scope(principal: Principal) -> ColumnElement[bool] | None:
    """The rows a caller may see: all, their teams' plus the pool, or their own plus the pool."""
    if principal.scope is Scope.team:
        return or_(
            Customer.team_id.in_(principal.team_ids),
            Customer.owner_id == principal.user_id,
            Customer.owner_id.is_(None),
        )
    if principal.scope is Scope.own:
        return or_(Customer.owner_id == principal.user_id, Customer.owner_id.is_(None))
    return None


def scoped_by_customer(stmt: Select[Any], principal: Principal, customer_column: Any) -> Select[Any]:
    """``stmt`` limited to rows whose customer (``customer_column``) the caller may see."""
    scope = customer_scope(principal)
    if scope is None:
        return stmt
    return stmt.join(Customer, Customer.id == customer_column).where(scope)


def _like_fragment(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True, slots=True)
class CustomerFilters:
    stage: str | None = None
    grade: str | None = None
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    region: str | None = None
    industry: str | None = None
    tag: str | None = None
    source: str | None = None
    pool: bool | None = None
    # Only customers claimable at this moment: unowned, not abandoned, cooldown over.
    claimable_at: dt.datetime | None = None
    updated_since: dt.datetime | None = None
    include_deleted: bool = False
    # The search as the client typed it; the service classifies it into exactly one of the
    # forms below (``customers.customer_filters``), which are what the queries use.
    q: str | None = None
    q_phone: str | None = None
    q_email: str | None = None
    q_uscc: str | None = None
    q_text: str | None = None
    # A phone/email search matches owned customers only (the pool's details are masked).
    contact_owned_only: bool = False


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    customer: Customer
    matched_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """A live customer holding one duplicate-detection key (bulk checks, e.g. imports)."""

    matched_on: str  # uscc | name | phone | email
    key: str
    customer_id: uuid.UUID
    name: str
    created_at: dt.datetime


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _on_postgres(self) -> bool:
        return self.session.bind.dialect.name == "postgresql"  # type: ignore[union-attr]

    def visible_to(self, principal: Principal, *, include_deleted: bool = False) -> Select[tuple[Customer]]:
        stmt = select(Customer)
        scope = customer_scope(principal)
        if scope is not None:
            stmt = stmt.where(scope)
        if not include_deleted:
            stmt = stmt.where(Customer.deleted_at.is_(None))
        return stmt

    async def get(
        self,
        customer_id: uuid.UUID,
        *,
        principal: Principal,
        for_update: bool = False,
        include_deleted: bool = False,
    ) -> Customer | None:
        """The customer, if the caller may see it."""
        stmt = self.visible_to(principal, include_deleted=include_deleted)
        return await by_id(self.session, stmt, Customer, customer_id, for_update=for_update)

    async def get_unscoped(
        self, customer_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Customer | None:
        """The customer whoever may see it: for system work (sweeps, imports) and for a
        service that has already checked the caller's scope."""
        stmt = select(Customer)
        if not include_deleted:
            stmt = stmt.where(Customer.deleted_at.is_(None))
        return await by_id(self.session, stmt, Customer, customer_id, for_update=for_update)

    def _tag_clause(self, tag: str) -> ColumnElement[bool]:
        if self._on_postgres:
            return Customer.tags.op("@>")(func.jsonb_build_array(tag))  # type: ignore[no-any-return]
        each = func.json_each(Customer.tags).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value == tag))

    def _filtered(self, principal: Principal, f: CustomerFilters) -> Select[tuple[Customer]]:
        stmt = self.visible_to(principal, include_deleted=f.include_deleted)
        for column, value in (
            (Customer.stage, f.stage),
            (Customer.grade, f.grade),
            (Customer.owner_id, f.owner_id),
            (Customer.team_id, f.team_id),
            (Customer.region, f.region),
            (Customer.industry, f.industry),
            (Customer.source, f.source),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if f.pool is not None:
            stmt = stmt.where(Customer.owner_id.is_(None) if f.pool else Customer.owner_id.is_not(None))
        if f.claimable_at is not None:
            stmt = stmt.where(
                Customer.owner_id.is_(None),
                Customer.stage != "abandoned",
                or_(Customer.cooldown_until.is_(None), Customer.cooldown_until <= f.claimable_at),
            )
        if f.tag is not None:
            stmt = stmt.where(self._tag_clause(f.tag))
        if f.updated_since is not None:
            stmt = stmt.where(Customer.updated_at >= f.updated_since)
        if f.q_phone is not None or f.q_email is not None:
            kind, value = ("phone", f.q_phone) if f.q_phone is not None else ("email", f.q_email)
            stmt = stmt.where(
                Customer.id.in_(
                    select(ContactPoint.customer_id).where(
                        ContactPoint.kind == kind, ContactPoint.value == value
                    )
                )
            )
            if f.contact_owned_only:
                stmt = stmt.where(Customer.owner_id.is_not(None))
        if f.q_uscc is not None:
            stmt = stmt.where(Customer.uscc == f.q_uscc)
        if f.q_text is not None:
            # Ids from both name indexes, combined with UNION: an OR with a sub-select
            # cannot use the index on customer.name and reads the whole table.
            matches = union(
                select(Customer.id).where(self._name_contains(Customer.name, f.q_text)),
                select(Contact.customer_id).where(
                    self._name_contains(Contact.name, f.q_text), Contact.deleted_at.is_(None)
                ),
            )
            if self._on_postgres:
                # = ANY(ARRAY(...)): collect the ids first, then fetch them by primary key;
                # with IN (...) a LIKE misestimate can make the planner hash-join a full scan.
                stmt = stmt.where(Customer.id == any_(func.array(matches.scalar_subquery())))
            else:
                stmt = stmt.where(Customer.id.in_(matches))
        return stmt

    async def list(
        self,
        principal: Principal,
        filters: CustomerFilters,
        *,
        sort: CustomerSort,
        cursor: str | None,
        limit: int,
    ) -> Page[Customer]:
        field = sort.lstrip("-")
        direction: Literal["asc", "desc"] = "desc" if sort.startswith("-") else "asc"
        key = Customer.updated_at if field == "updated_at" else Customer.name
        key_of = lambda c: [getattr(c, field), c.id]  # noqa: E731
        if filters.q_text is None or not self._on_postgres:
            return await paginate(
                self.session,
                self._filtered(principal, filters),
                sort=sort,
                keys=[key, Customer.id],
                key_of=key_of,
                cursor=cursor,
                limit=limit,
                direction=direction,
            )
        # Name search on PostgreSQL. Either way the page's ids come first, from narrow
        # (id, sort key) pairs, and then only those rows in full.
        base = self._filtered(principal, dataclasses.replace(filters, q_text=None))
        window = dict(sort=sort, cursor=cursor, limit=limit, direction=direction)
        # Both plans depend on the fragment (how common it is): plan for this value, not a
        # generic plan; and without parallel workers, which cost more than they save here.
        await self._plan_locally(plan_cache_mode="force_custom_plan", max_parallel_workers_per_gather="0")
        fragment = filters.q_text
        rows = None
        if len(fragment) >= 3:
            rows = await self._search_every_match(base, fragment, key=key, window=window)
        if rows is None:
            rows = await self._search_by_walking(base, fragment, key=key, window=window)
        return to_page(rows, sort=sort, key_of=key_of, limit=limit)

    def _name_contains(self, name: Any, fragment: str) -> ColumnElement[bool]:
        """``name`` contains ``fragment``, ignoring case, in a form an index can serve.

        LIKE, which the trigram index serves for 3+ characters. A shorter fragment has no
        trigram: on PostgreSQL it is tested against crm_name_grams() instead, whose index
        has per-gram statistics, with strpos() as the exact test. strpos() is estimated as
        an unknown function, so it does not skew the gram's estimate as a second LIKE would.
        """
        if len(fragment) >= 3 or not self._on_postgres:
            return name.ilike(_like_fragment(fragment), escape="\\")  # type: ignore[no-any-return]
        grams = func.crm_name_grams(name, type_=postgresql.ARRAY(Text))
        return and_(
            grams.contains(postgresql.array([func.lower(fragment)], type_=Text)),
            func.strpos(func.lower(name), func.lower(fragment)) > 0,
        )

    async def _plan_locally(self, **settings: str) -> None:
        """Planner settings for the rest of this transaction only (one round trip)."""
        await self.session.execute(
            select(*(func.set_config(name, value, True) for name, value in settings.items()))
        )

    @staticmethod
    def _page_of(hits: Any, *, key: Any, window: dict[str, Any]) -> ColumnElement[bool]:
        """``Customer.id`` is one of the page's ids among ``hits`` (id, sort key) pairs."""
        page_ids = page_window(select(hits.c.id), keys=[hits.c[key.key], hits.c.id], **window)
        return Customer.id == any_(func.array(page_ids.scalar_subquery()))

    async def _search_every_match(
        self, base: Select[Any], fragment: str, *, key: Any, window: dict[str, Any]
    ) -> list[Customer] | None:
        """A page of customers whose or whose contact's name contains ``fragment`` (3+
        characters), chosen among all the matches; None if there are more than
        _SEARCH_MATCH_CAP of them.

        The trigram indexes find the matches, and each is read once. A typical fragment
        matches a few to a few thousand customers, so this is the fast way. One that most
        names contain (有限公司) would read much of the table; the cap stops that early, and
        the caller walks the listing order instead.
        """
        contact_hits = (
            select(Contact.customer_id)
            .where(self._name_contains(Contact.name, fragment), Contact.deleted_at.is_(None))
            .limit(_SEARCH_MATCH_CAP)
        ).cte("contact_hits")
        by_contact = func.array(select(contact_hits.c.customer_id).scalar_subquery())
        hits = union(
            base.where(self._name_contains(Customer.name, fragment))
            .with_only_columns(Customer.id, key)
            .limit(_SEARCH_MATCH_CAP),
            base.where(Customer.id == any_(by_contact)).with_only_columns(Customer.id, key),
        ).cte("hits")
        # One row even for an empty page, so the match counts always come back. Either side
        # at the cap means some matches were left unread.
        counted = select(
            select(func.count()).select_from(hits).scalar_subquery().label("matches"),
            select(func.count()).select_from(contact_hits).scalar_subquery().label("contact_matches"),
        ).subquery("counted")
        stmt = (
            select(counted.c.matches, counted.c.contact_matches, Customer)
            .select_from(counted)
            .outerjoin(Customer, self._page_of(hits, key=key, window=window))
            .order_by(*ordered([key, Customer.id], window["direction"]))
        )
        rows = (await self.session.execute(stmt)).all()
        if max(rows[0].matches, rows[0].contact_matches) >= _SEARCH_MATCH_CAP:
            return None
        return [row.Customer for row in rows if row.Customer is not None]

    async def _search_by_walking(
        self, base: Select[Any], fragment: str, *, key: Any, window: dict[str, Any]
    ) -> list[Customer]:
        """A page of customers whose or whose contact's name contains ``fragment``, from at
        most a page of candidates per side (own name, a contact's), each past the cursor.

        The planner chooses per side from the fragment's statistics (the LIKE column
        histogram, or the grams index's per-gram statistics; see _name_contains): walk the
        listing order and stop after a page when the fragment is common (公司, 有限公司), or
        read the index's matches when it is rare.
        """
        keys = [key, Customer.id]
        by_name = base.where(self._name_contains(Customer.name, fragment))
        by_contact = base.where(
            exists().where(
                Contact.customer_id == Customer.id,
                Contact.deleted_at.is_(None),
                self._name_contains(Contact.name, fragment),
            )
        )
        hits = union(
            *(
                page_window(branch.with_only_columns(*keys), keys=keys, **window)
                for branch in (by_name, by_contact)
            )
        ).subquery("hits")
        stmt = (
            select(Customer)
            .where(self._page_of(hits, key=key, window=window))
            .order_by(*ordered(keys, window["direction"]))
        )
        return list((await self.session.scalars(stmt)).all())

    def stream(self, principal: Principal, filters: CustomerFilters) -> Select[tuple[Customer]]:
        """The export query, in a stable order; the caller streams it in chunks."""
        return self._filtered(principal, filters).order_by(Customer.id)

    async def find_duplicates(
        self,
        *,
        uscc: str | None,
        name_key: str | None,
        phones: Iterable[str],
        emails: Iterable[str],
        exclude_id: uuid.UUID | None = None,
        limit: int = 20,
    ) -> list[DuplicateMatch]:
        reasons: dict[uuid.UUID, set[str]] = {}

        async def collect(reason: str, stmt: Select[tuple[uuid.UUID]]) -> None:
            for customer_id in (await self.session.scalars(stmt.limit(limit))).all():
                if customer_id != exclude_id:
                    reasons.setdefault(customer_id, set()).add(reason)

        live = Customer.deleted_at.is_(None)
        if uscc:
            await collect("uscc", select(Customer.id).where(Customer.uscc == uscc, live))
        if name_key:
            await collect("name", select(Customer.id).where(Customer.name_key == name_key, live))
        for kind, values in (("phone", sorted(set(phones))), ("email", sorted(set(emails)))):
            if values:
                await collect(
                    kind,
                    select(ContactPoint.customer_id)
                    .join(Customer, Customer.id == ContactPoint.customer_id)
                    .where(ContactPoint.kind == kind, ContactPoint.value.in_(values), live),
                )
        if not reasons:
            return []
        rows = (
            await self.session.scalars(
                select(Customer).where(Customer.id.in_(list(reasons))).order_by(Customer.created_at)
            )
        ).all()
        return [DuplicateMatch(c, tuple(sorted(reasons[c.id]))) for c in rows][:limit]

    async def count_owned(self, user_id: uuid.UUID) -> int:
        stmt = (
            select(func.count())
            .select_from(Customer)
            .where(Customer.owner_id == user_id, Customer.deleted_at.is_(None))
        )
        return int(await self.session.scalar(stmt) or 0)

    async def count_active_owned(self, user_id: uuid.UUID) -> int:
        stmt = (
            select(func.count())
            .select_from(Customer)
            .where(
                Customer.owner_id == user_id,
                Customer.deleted_at.is_(None),
                Customer.stage.in_([s.value for s in ACTIVE_STAGES]),
            )
        )
        return int(await self.session.scalar(stmt) or 0)

    async def count_active_discovered(self, user_id: uuid.UUID) -> int:
        """Active customers the user owns and discovered themselves (the discovery bonus)."""
        stmt = (
            select(func.count())
            .select_from(Customer)
            .where(
                Customer.owner_id == user_id,
                Customer.discovered_by == user_id,
                Customer.deleted_at.is_(None),
                Customer.stage.in_([s.value for s in ACTIVE_STAGES]),
            )
        )
        return int(await self.session.scalar(stmt) or 0)

    async def touch_last_contact(self, customer_id: uuid.UUID, at: dt.datetime) -> None:
        """Move ``last_contact_at`` forward only (never back), atomically."""
        result = await self.session.execute(
            update(Customer)
            .where(
                Customer.id == customer_id,
                or_(Customer.last_contact_at.is_(None), Customer.last_contact_at < at),
            )
            .values(last_contact_at=at)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            note_changed(self.session, "customer", [customer_id])

    async def recompute_last_contact(self, customer_id: uuid.UUID) -> None:
        """Derive ``last_contact_at`` from the customer's live activities again (after one
        was deleted or back-dated), so the protection period cannot be kept alive by them."""
        latest = (
            select(func.max(Activity.occurred_at))
            .where(Activity.customer_id == customer_id, Activity.deleted_at.is_(None))
            .scalar_subquery()
        )
        await self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(last_contact_at=latest)
            .execution_options(synchronize_session=False)
        )
        note_changed(self.session, "customer", [customer_id])

    async def reload(self, customer_id: uuid.UUID) -> Customer:
        """Read a row again after a bulk UPDATE changed it behind the session's back."""
        stmt = select(Customer).where(Customer.id == customer_id).execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one()

    async def lock_keys(self, keys: Iterable[str | None]) -> None:
        """Serialise concurrent writers of the same USCC/name/phone/email, so duplicate
        detection cannot be raced. SQLite needs nothing: its writers are serialised already."""
        if self.session.bind.dialect.name != "postgresql":  # type: ignore[union-attr]
            return
        slots = {zlib.crc32(k.encode()) % _KEY_LOCK_SLOTS for k in keys if k}
        for slot in sorted(slots):  # one order everywhere: no deadlocks
            await self.session.execute(select(func.pg_advisory_xact_lock(_KEY_LOCK_SPACE, slot)))

    def add(self, customer: Customer) -> None:
        self.session.add(customer)

    async def find_key_matches(
        self,
        *,
        usccs: Iterable[str],
        name_keys: Iterable[str],
        phones: Iterable[str],
        emails: Iterable[str],
        batch: int = 500,
    ) -> list[KeyMatch]:
        """``find_duplicates`` for many candidate rows at once: every live customer holding any
        of the keys, a few IN-queries in all instead of several queries per row."""
        live = Customer.deleted_at.is_(None)
        found: list[KeyMatch] = []
        queries: list[tuple[str, Iterable[str], Any]] = [
            (
                "uscc",
                usccs,
                lambda chunk: select(Customer.uscc, Customer.id, Customer.name, Customer.created_at).where(
                    Customer.uscc.in_(chunk), live
                ),
            ),
            (
                "name",
                name_keys,
                lambda chunk: select(
                    Customer.name_key, Customer.id, Customer.name, Customer.created_at
                ).where(Customer.name_key.in_(chunk), live),
            ),
        ]
        for kind, values in (("phone", phones), ("email", emails)):
            queries.append(
                (
                    kind,
                    values,
                    lambda chunk, kind=kind: (
                        select(ContactPoint.value, Customer.id, Customer.name, Customer.created_at)
                        .join(Customer, Customer.id == ContactPoint.customer_id)
                        .where(ContactPoint.kind == kind, ContactPoint.value.in_(chunk), live)
                    ),
                )
            )
        for reason, values, build in queries:
            keys = sorted(set(values))
            for start in range(0, len(keys), batch):
                rows = (await self.session.execute(build(keys[start : start + batch]))).all()
                found.extend(
                    KeyMatch(reason, key, cid, name, created_at) for key, cid, name, created_at in rows
                )
        return found

    async def chunk_after(
        self, principal: Principal, filters: CustomerFilters, *, after_id: uuid.UUID | None, limit: int
    ) -> list[Customer]:
        """The next ``limit`` rows of ``stream`` after ``after_id``: keyset chunks for exports."""
        stmt = self.stream(principal, filters)
        if after_id is not None:
            stmt = stmt.where(Customer.id > after_id)
        return list((await self.session.scalars(stmt.limit(limit))).all())


# 0 for the primary contact, 1 for the others: one ascending key that puts the primary first.
_NOT_PRIMARY = case((Contact.is_primary, 0), else_=1)


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_customer(self, customer_id: uuid.UUID) -> list[Contact]:
        return await self.for_customers([customer_id])

    async def page_for_customer(
        self, customer_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[Contact]:
        """One page of a customer's contacts: the primary one first, then oldest first."""
        stmt = select(Contact).where(Contact.customer_id == customer_id, Contact.deleted_at.is_(None))
        return await paginate(
            self.session,
            stmt,
            sort="primary,created_at",
            keys=[_NOT_PRIMARY, Contact.created_at, Contact.id],
            key_of=lambda c: [0 if c.is_primary else 1, c.created_at, c.id],
            cursor=cursor,
            limit=limit,
        )

    async def for_customers(self, customer_ids: Sequence[uuid.UUID]) -> list[Contact]:
        if not customer_ids:
            return []
        stmt = (
            select(Contact)
            .where(Contact.customer_id.in_(list(customer_ids)), Contact.deleted_at.is_(None))
            .order_by(Contact.customer_id, Contact.is_primary.desc(), Contact.created_at, Contact.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def get(
        self, customer_id: uuid.UUID, contact_id: uuid.UUID, *, for_update: bool = False
    ) -> Contact | None:
        stmt = select(Contact).where(
            Contact.id == contact_id, Contact.customer_id == customer_id, Contact.deleted_at.is_(None)
        )
        if for_update:
            stmt = stmt.with_for_update(key_share=True)
        return await self.session.scalar(stmt)

    def add(self, contact: Contact) -> None:
        self.session.add(contact)

    async def replace_points(self, contact: Contact) -> None:
        """Keep the searchable phone/email rows of a contact equal to its current values."""
        await self.session.execute(
            ContactPoint.__table__.delete().where(ContactPoint.contact_id == contact.id)
        )
        if contact.deleted_at is not None:
            return
        rows = [
            {"contact_id": contact.id, "customer_id": contact.customer_id, "kind": kind, "value": value}
            for kind, values in (("phone", contact.phones), ("email", contact.emails))
            for value in dict.fromkeys(values)
        ]
        if rows:
            await self.session.execute(ContactPoint.__table__.insert(), rows)

    async def add_points(self, contacts: Sequence[Contact]) -> None:
        """The searchable phone/email rows of newly created contacts, in one batch."""
        rows = [
            {"contact_id": contact.id, "customer_id": contact.customer_id, "kind": kind, "value": value}
            for contact in contacts
            for kind, values in (("phone", contact.phones), ("email", contact.emails))
            for value in dict.fromkeys(values)
        ]
        if rows:
            await self.session.execute(ContactPoint.__table__.insert(), rows)

    async def move_all(self, *, from_customer: uuid.UUID, to_customer: uuid.UUID) -> int:
        moved = list(
            (
                await self.session.scalars(
                    update(Contact)
                    .where(Contact.customer_id == from_customer)
                    .values(customer_id=to_customer, version=Contact.version + 1)
                    .returning(Contact.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        )
        note_changed(self.session, "contact", moved)
        await self.session.execute(
            update(ContactPoint)
            .where(ContactPoint.customer_id == from_customer)
            .values(customer_id=to_customer)
            .execution_options(synchronize_session=False)
        )
        return len(moved)


class ActivityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def visible_to(self, principal: Principal) -> Select[tuple[Activity]]:
        # A deleted (or merged-away) customer takes its activities out of view with it.
        stmt = (
            select(Activity)
            .join(Customer, Customer.id == Activity.customer_id)
            .where(Activity.deleted_at.is_(None), Customer.deleted_at.is_(None))
        )
        scope = customer_scope(principal)
        if scope is not None:
            stmt = stmt.where(scope)
        return stmt

    async def get(
        self, activity_id: uuid.UUID, *, principal: Principal, for_update: bool = False
    ) -> Activity | None:
        """The activity, if the caller may see its customer."""
        stmt = self.visible_to(principal)
        return await by_id(self.session, stmt, Activity, activity_id, for_update=for_update)

    async def get_unscoped(
        self, activity_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Activity | None:
        """The activity whoever may see it: for a service that has already checked scope."""
        stmt = select(Activity)
        if not include_deleted:
            stmt = stmt.where(Activity.deleted_at.is_(None))
        return await by_id(self.session, stmt, Activity, activity_id, for_update=for_update)

    async def exists_any(self, activity_id: uuid.UUID) -> bool:
        return await self.session.scalar(select(Activity.id).where(Activity.id == activity_id)) is not None

    async def list(
        self,
        principal: Principal,
        *,
        customer_id: uuid.UUID | None,
        type_: str | None,
        created_by: uuid.UUID | None,
        occurred_from: dt.datetime | None,
        occurred_to: dt.datetime | None,
        updated_since: dt.datetime | None = None,
        cursor: str | None,
        limit: int,
    ) -> Page[Activity]:
        stmt = self.visible_to(principal)
        if customer_id is not None:
            stmt = stmt.where(Activity.customer_id == customer_id)
        if type_ is not None:
            stmt = stmt.where(Activity.type == type_)
        if created_by is not None:
            stmt = stmt.where(Activity.created_by == created_by)
        if occurred_from is not None:
            stmt = stmt.where(Activity.occurred_at >= occurred_from)
        if occurred_to is not None:
            stmt = stmt.where(Activity.occurred_at < occurred_to)
        if updated_since is not None:
            stmt = stmt.where(Activity.updated_at >= updated_since)
        return await paginate(
            self.session,
            stmt,
            sort="-occurred_at",
            keys=[Activity.occurred_at, Activity.id],
            key_of=lambda a: [a.occurred_at, a.id],
            cursor=cursor,
            limit=limit,
            direction="desc",
        )

    async def count_for_customer(self, customer_id: uuid.UUID) -> int:
        stmt = (
            select(func.count())
            .select_from(Activity)
            .where(Activity.customer_id == customer_id, Activity.deleted_at.is_(None))
        )
        return int(await self.session.scalar(stmt) or 0)

    async def latest_occurred_at(self, customer_id: uuid.UUID) -> dt.datetime | None:
        stmt = select(func.max(Activity.occurred_at)).where(
            Activity.customer_id == customer_id, Activity.deleted_at.is_(None)
        )
        return await self.session.scalar(stmt)

    async def move_all(self, *, from_customer: uuid.UUID, to_customer: uuid.UUID) -> int:
        moved = list(
            (
                await self.session.scalars(
                    update(Activity)
                    .where(Activity.customer_id == from_customer)
                    .values(customer_id=to_customer, version=Activity.version + 1)
                    .returning(Activity.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        )
        note_changed(self.session, "activity", moved)
        return len(moved)

    def add(self, activity: Activity) -> None:
        self.session.add(activity)


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def record(
        self,
        *,
        customer_id: uuid.UUID,
        actor_id: uuid.UUID | None,
        action: str,
        changes: dict[str, Any],
        entity: str = "customer",
        entity_id: uuid.UUID | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        self.session.add(
            CustomerHistory(
                customer_id=customer_id,
                actor_id=actor_id,
                action=action,
                entity=entity,
                entity_id=entity_id or customer_id,
                changes=changes,
                **({"at": at} if at is not None else {}),
            )
        )

    async def list(self, customer_id: uuid.UUID, *, cursor: str | None, limit: int) -> Page[CustomerHistory]:
        stmt = select(CustomerHistory).where(CustomerHistory.customer_id == customer_id)
        return await paginate(
            self.session,
            stmt,
            sort="-at",
            keys=[CustomerHistory.at, CustomerHistory.id],
            key_of=lambda h: [h.at, h.id],
            cursor=cursor,
            limit=limit,
            direction="desc",
        )

    async def move_all(self, *, from_customer: uuid.UUID, to_customer: uuid.UUID) -> int:
        result = await self.session.execute(
            update(CustomerHistory)
            .where(CustomerHistory.customer_id == from_customer)
            .values(customer_id=to_customer)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount  # type: ignore[attr-defined,no-any-return]


__all__ = [
    "ActivityRepository",
    "ContactRepository",
    "CustomerFilters",
    "CustomerRepository",
    "DuplicateMatch",
    "HistoryRepository",
]
