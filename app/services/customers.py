"""Use cases for customer master data: create, read, search, update, delete, dedup, merge."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from app.db.base import utcnow
from app.db.models import Contact, Customer, CustomerHistory, User
from app.db.repositories.customers import CustomerFilters, CustomerSort
from app.db.repositories.pagination import Page
from app.db.uow import UnitOfWork
from app.domain import normalize
from app.domain.customers import Source
from app.domain.errors import (
    Conflict,
    CustomerDuplicate,
    CustomerInvalidOwner,
    CustomerMergeSelf,
    CustomerTooManyContactSearches,
    Forbidden,
    InvalidInput,
    RequirementUnmet,
)
from app.domain.funnel import Stage, StageFacts, is_out_of_funnel_on_create, missing_requirements
from app.domain.ownership import InitialOwner, check_discovery_quota, check_quota, decide_initial_owner
from app.domain.ratelimit import SlidingWindow
from app.domain.roles import (
    DUPLICATE_OVERRIDERS,
    Principal,
    Role,
    can_edit_customer,
    masks_contact_details,
)
from app.services import funnel as funnel_service
from app.services import settings as settings_service
from app.services.common import apply_changes, check_version, found, jsonable

CREATABLE_STAGES = (Stage.resource, Stage.graded, Stage.contacted, Stage.lead, Stage.intent)
OWNER_ROLES = {Role.rep.value, Role.manager.value}
_TEXT_FIELDS = ("industry", "region", "size", "address", "website", "notes")


# ----------------------------------------------------------------------------------------
# Views handed to routers: records plus what the caller may see of their contacts
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactView:
    id: uuid.UUID
    customer_id: uuid.UUID
    name: str
    title: str | None
    phones: list[str]
    emails: list[str]
    wechat: str | None
    is_primary: bool
    notes: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    masked: bool


@dataclass(frozen=True, slots=True)
class CustomerView:
    customer: Customer
    contacts: list[ContactView] | None = None


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    """A likely duplicate. One the caller may not see (outside their scope, or a pool
    customer found through contact details that are masked for them) is reported only as
    existing: ``visible`` false and no id, name, USCC or owner."""

    id: uuid.UUID | None
    name: str | None
    uscc: str | None
    owner_id: uuid.UUID | None
    matched_on: tuple[str, ...]
    visible: bool = True


@dataclass(frozen=True, slots=True)
class ContactInput:
    name: str
    title: str | None = None
    phones: Sequence[str] = ()
    emails: Sequence[str] = ()
    wechat: str | None = None
    is_primary: bool = False
    notes: str | None = None


def contact_view(contact: Contact, *, masked: bool) -> ContactView:
    return ContactView(
        id=contact.id,
        customer_id=contact.customer_id,
        name=contact.name,
        title=contact.title,
        phones=[normalize.mask_phone(p) for p in contact.phones] if masked else list(contact.phones),
        emails=[normalize.mask_email(e) for e in contact.emails] if masked else list(contact.emails),
        wechat=(normalize.mask_text(contact.wechat) if masked and contact.wechat else contact.wechat),
        is_primary=contact.is_primary,
        notes=None if masked else contact.notes,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
        version=contact.version,
        masked=masked,
    )


# ----------------------------------------------------------------------------------------
# Normalisation of incoming data (domain rules, with error locations for the client)
# ----------------------------------------------------------------------------------------


def _collect(errors: list[dict[str, Any]], fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except InvalidInput as exc:
        errors.extend(exc.errors)
        return None


def normalize_contact(
    data: ContactInput, *, loc: tuple[str | int, ...], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    name = normalize.clean_text(data.name)
    if not name:
        errors.append({"loc": [*loc, "name"], "msg": "A contact needs a name", "type": "missing"})
    phones = [
        _collect(errors, normalize.normalize_phone, p, loc=(*loc, "phones", i))
        for i, p in enumerate(data.phones)
    ]
    emails = [
        _collect(errors, normalize.normalize_email, e, loc=(*loc, "emails", i))
        for i, e in enumerate(data.emails)
    ]
    return {
        "name": name or "",
        "title": normalize.clean_text(data.title),
        "phones": list(dict.fromkeys(p for p in phones if p)),
        "emails": list(dict.fromkeys(e for e in emails if e)),
        "wechat": normalize.clean_text(data.wechat),
        "is_primary": data.is_primary,
        "notes": (data.notes or "").strip() or None,
    }


def normalize_customer_fields(
    data: dict[str, Any], *, kind: str, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data:
        name = normalize.clean_text(data["name"])
        if not name:
            errors.append({"loc": ["body", "name"], "msg": "The name cannot be blank", "type": "missing"})
        else:
            out["name"] = name
            out["name_key"] = normalize.dedup_name_key(name)
    if "uscc" in data:
        raw = normalize.clean_text(data["uscc"])
        if raw is None:
            out["uscc"] = None
        elif kind != "company":
            errors.append(
                {
                    "loc": ["body", "uscc"],
                    "msg": "Only companies have a unified social credit code",
                    "type": "value_error.uscc",
                }
            )
        else:
            out["uscc"] = _collect(errors, normalize.validate_uscc, raw, loc=("body", "uscc"))
    for name in _TEXT_FIELDS:
        if name in data:
            out[name] = (
                (data[name] or "").strip() or None if name == "notes" else normalize.clean_text(data[name])
            )
    for name in ("tags", "interests", "recommended_products"):
        if name in data:
            cleaned = [normalize.clean_text(v) for v in (data[name] or [])]
            out[name] = list(dict.fromkeys(v for v in cleaned if v))
    for name in ("kind", "grade", "source", "referred_by", "target_amount"):
        if name in data:
            out[name] = data[name]
    if out.get("target_amount") is not None:
        # The schema dumps money in its "12500.00" wire form; rules and diffs need a Decimal.
        out["target_amount"] = Decimal(str(out["target_amount"]))
    return out


def completeness_of(customer: Customer, contacts: Sequence[Any]) -> int:
    return normalize.completeness(
        kind=customer.kind,
        fields={
            "name": customer.name,
            "uscc": customer.uscc,
            "industry": customer.industry,
            "region": customer.region,
            "size": customer.size,
            "address": customer.address,
            "website": customer.website,
            "source": customer.source,
            "has_contact": bool(contacts),
            "has_contact_phone_or_email": any(c.phones or c.emails for c in contacts),
        },
    )


# ----------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------


def _search_filters(q: str | None) -> dict[str, str]:
    """Decide what a free-text ``q`` is: a phone, an email, a USCC, or a name fragment."""
    text = normalize.clean_text(q)
    if not text:
        return {}
    if "@" in text:
        return {"q_email": text.lower()}
    if normalize.is_valid_uscc(text.upper()):
        return {"q_uscc": text.upper()}
    phone = normalize.phone_search_key(text)
    if phone:
        return {"q_phone": phone}
    return {"q_text": text}


# Searches by a phone or an email, per user: an exact search is a yes/no oracle for a
# contact detail, so guessing numbers is slowed down (per process; see docs/service.md).
CONTACT_SEARCHES_PER_MINUTE = 30
_contact_searches = SlidingWindow(limit=CONTACT_SEARCHES_PER_MINUTE, window=60.0)


def customer_filters(query: CustomerFilters, actor: Principal) -> CustomerFilters:
    """The filters of a list (or export) query as the repository uses them: text normalised
    like stored data, the raw search ``q`` classified into its one search form.

    A search by phone or email counts against the caller's per-minute allowance, and never
    matches contact details that are masked for the caller (a match would confirm them)."""
    filters = replace(
        query,
        region=normalize.clean_text(query.region),
        industry=normalize.clean_text(query.industry),
        tag=normalize.clean_text(query.tag),
        q=None,
        **_search_filters(query.q),
    )
    if filters.q_phone is not None or filters.q_email is not None:
        wait = _contact_searches.hit(actor.user_id, now=time.monotonic())
        if wait is not None:
            raise CustomerTooManyContactSearches(
                f"At most {CONTACT_SEARCHES_PER_MINUTE} searches by phone or email a minute; try again later",
                retry_after=wait,
            )
        filters = replace(filters, contact_owned_only=masks_contact_details(actor, owner_id=None))
    return filters


async def list_customers(
    uow: UnitOfWork,
    actor: Principal,
    *,
    filters: CustomerFilters,
    sort: CustomerSort,
    cursor: str | None,
    limit: int,
) -> Page[Customer]:
    """Customers in the caller's scope matching the list filters (``CustomerFilters`` as the
    client sent them; normalised here)."""
    normalised = customer_filters(filters, actor)
    async with uow:
        return await uow.customers.list(actor, normalised, sort=sort, cursor=cursor, limit=limit)


async def _view(uow: UnitOfWork, actor: Principal, customer: Customer) -> CustomerView:
    masked = masks_contact_details(actor, owner_id=customer.owner_id)
    contacts = await uow.contacts.for_customer(customer.id)
    return CustomerView(customer, [contact_view(c, masked=masked) for c in contacts])


async def get_customer(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, include_deleted: bool = False
) -> CustomerView:
    async with uow:
        customer = found(
            await uow.customers.get(customer_id, principal=actor, include_deleted=include_deleted), "Customer"
        )
        return await _view(uow, actor, customer)


async def customer_history(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[CustomerHistory]:
    async with uow:
        found(await uow.customers.get(customer_id, principal=actor, include_deleted=True), "Customer")
        return await uow.history.list(customer_id, cursor=cursor, limit=limit)


# ----------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------


def require_editor(actor: Principal, customer: Customer) -> None:
    if not can_edit_customer(actor, owner_id=customer.owner_id):
        raise Forbidden("You may read this customer but not change it")


async def check_owner_in(uow: UnitOfWork, actor: Principal, owner_id: uuid.UUID) -> User:
    """Lock the owner's row: it guards their holding limit against concurrent assignments."""
    owner = await uow.users.get_unscoped(owner_id, for_update=True)
    if owner is None or not owner.is_active or owner.role not in OWNER_ROLES:
        raise CustomerInvalidOwner("The owner must be an active rep or manager", owner_id=str(owner_id))
    if actor.role is Role.manager and owner.team_id not in actor.team_ids:
        raise Forbidden("Managers assign customers within their own teams only")
    return owner


async def _duplicates(
    uow: UnitOfWork,
    actor: Principal,
    *,
    uscc: str | None,
    name_key: str | None,
    phones: Sequence[str],
    emails: Sequence[str],
    exclude_id: uuid.UUID | None = None,
) -> list[DuplicateCandidate]:
    matches = await uow.customers.find_duplicates(
        uscc=uscc, name_key=name_key, phones=phones, emails=emails, exclude_id=exclude_id
    )
    candidates = []
    for m in matches:
        in_scope = await uow.customers.get(m.customer.id, principal=actor) is not None
        through_masked = masks_contact_details(actor, owner_id=m.customer.owner_id) and bool(
            {"phone", "email"} & set(m.matched_on)
        )
        if in_scope and not through_masked:
            candidates.append(
                DuplicateCandidate(
                    id=m.customer.id,
                    name=m.customer.name,
                    uscc=m.customer.uscc,
                    owner_id=m.customer.owner_id,
                    matched_on=m.matched_on,
                )
            )
        else:
            candidates.append(
                DuplicateCandidate(
                    id=None, name=None, uscc=None, owner_id=None, matched_on=m.matched_on, visible=False
                )
            )
    return candidates


async def _check_referrer(
    uow: UnitOfWork, actor: Principal, referrer_id: uuid.UUID | None, *, customer_id: uuid.UUID | None
) -> None:
    """A referrer must be another live customer the caller can see."""
    if referrer_id is None:
        return
    if referrer_id == customer_id or await uow.customers.get(referrer_id, principal=actor) is None:
        raise InvalidInput(
            "The referring customer is unknown",
            errors=[
                {
                    "loc": ["body", "referred_by"],
                    "msg": "not a customer you can see (or the customer itself)",
                    "type": "value_error",
                }
            ],
        )


def _duplicate_error(candidates: list[DuplicateCandidate]) -> Conflict:
    return CustomerDuplicate(
        "A customer with the same USCC, phone, email or name already exists",
        candidates=[
            {
                "id": str(c.id) if c.id else None,
                "name": c.name,
                "matched_on": list(c.matched_on),
                "visible": c.visible,
            }
            for c in candidates
        ],
    )


async def create_customer(
    uow: UnitOfWork,
    actor: Principal,
    *,
    data: dict[str, Any],
    contacts: Sequence[ContactInput] = (),
    allow_duplicate: bool = False,
    now: dt.datetime | None = None,
) -> CustomerView:
    """Create a customer (and its contacts). A rep's own find is theirs within the holding
    limit; past it, or when support creates one, it goes to the pool."""
    if allow_duplicate and actor.role not in DUPLICATE_OVERRIDERS:
        raise Forbidden("Only support and directors may create a known duplicate")
    now = now or utcnow()
    errors: list[dict[str, Any]] = []
    kind = data.get("kind", "company")
    fields = normalize_customer_fields(data, kind=kind, errors=errors)
    normalized_contacts = [
        normalize_contact(c, loc=("body", "contacts", i), errors=errors) for i, c in enumerate(contacts)
    ]
    stage = Stage(data.get("stage") or Stage.resource)
    if stage not in CREATABLE_STAGES:
        errors.append(
            {
                "loc": ["body", "stage"],
                "msg": "A new customer starts at most at intent; signing goes through a contract",
                "type": "value_error.stage",
            }
        )
    if errors:
        raise InvalidInput("The customer is not valid; see errors", errors=errors)
    if stage != Stage.resource:
        missing = missing_requirements(
            Stage.graded,
            StageFacts(
                grade=fields.get("grade"),
                recommended_products=tuple(fields.get("recommended_products", ())),
                target_amount=fields.get("target_amount"),
            ),
        )
        if missing:
            raise RequirementUnmet(
                f"A customer created at {stage} needs: {', '.join(missing)}", missing=missing
            )

    async with uow:
        phones = [p for c in normalized_contacts for p in c["phones"]]
        emails = [e for c in normalized_contacts for e in c["emails"]]
        await uow.customers.lock_keys([fields.get("uscc"), fields["name_key"], *phones, *emails])
        candidates = await _duplicates(
            uow, actor, uscc=fields.get("uscc"), name_key=fields["name_key"], phones=phones, emails=emails
        )
        if candidates and not allow_duplicate:
            raise _duplicate_error(candidates)
        await _check_referrer(uow, actor, fields.get("referred_by"), customer_id=None)

        source = fields.get("source") or (Source.self_discovered if actor.role is Role.rep else Source.other)
        policy = await settings_service.pool_policy_in(uow)
        requested: uuid.UUID | None = data.get("owner_id")
        creator_active = creator_discovered = None
        if requested is None and actor.role is Role.rep:
            # The rep's row guards their holding limit while we count.
            await uow.users.get_unscoped(actor.user_id, for_update=True)
            creator_active = await uow.customers.count_active_owned(actor.user_id)
            if source == Source.self_discovered:  # the discovery bonus may apply
                creator_discovered = await uow.customers.count_active_discovered(actor.user_id)
        decision = decide_initial_owner(
            creator=actor,
            requested_owner_id=requested,
            source=source,
            policy=policy,
            creator_active=creator_active,
            creator_discovered=creator_discovered,
        )
        team_id = None
        if decision.owner_id is not None:
            owner = await check_owner_in(uow, actor, decision.owner_id)
            active = await uow.customers.count_active_owned(owner.id)
            if decision.discovered_by == owner.id:  # an own find: the discovery bonus applies
                check_discovery_quota(
                    active,
                    policy=policy,
                    discovered_active=await uow.customers.count_active_discovered(owner.id),
                )
            else:
                check_quota(active, policy=policy)
            team_id = owner.team_id

        customer, created_contacts = build_customer(
            customer_id=uuid.uuid4(),
            fields={**fields, "kind": kind, "source": source},
            stage=stage,
            owner=decision,
            team_id=team_id,
            created_by=actor.user_id,
            now=now,
            contacts=normalized_contacts,
        )
        uow.customers.add(customer)
        await uow.flush()
        for contact in created_contacts:
            uow.contacts.add(contact)
        await uow.flush()
        for contact in created_contacts:
            await uow.contacts.replace_points(contact)
        funnel_service.record_entry_in(uow, customer, actor_id=actor.user_id, now=now)
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="create",
            at=now,
            changes=created_changes(customer, len(created_contacts)),
        )
        await uow.commit()
        masked = masks_contact_details(actor, owner_id=customer.owner_id)
        return CustomerView(customer, [contact_view(c, masked=masked) for c in created_contacts])


def build_customer(
    *,
    customer_id: uuid.UUID,
    fields: dict[str, Any],
    stage: Stage,
    owner: InitialOwner,
    team_id: uuid.UUID | None,
    created_by: uuid.UUID,
    now: dt.datetime,
    contacts: Sequence[dict[str, Any]],
) -> tuple[Customer, list[Contact]]:
    """A new customer (normalised ``fields``, including kind and source) and its contacts, not
    yet added to the session: it enters ``stage`` now, is claimed now when it has an owner,
    and its completeness is computed. Create and import both build customers here."""
    customer = Customer(
        id=customer_id,
        stage=stage.value,
        owner_id=owner.owner_id,
        team_id=team_id,
        discovered_by=owner.discovered_by,
        created_by=created_by,
        claimed_at=now if owner.owner_id else None,
        stage_entered_at=now,
        out_of_funnel=is_out_of_funnel_on_create(stage),
        created_at=now,
        updated_at=now,
        **{"interests": [], "recommended_products": [], **fields},
    )
    created = [
        Contact(id=uuid.uuid4(), customer_id=customer.id, created_at=now, updated_at=now, **values)
        for values in contacts
    ]
    customer.completeness = completeness_of(customer, created)
    return customer, created


_AUDITED_ON_CREATE = (
    "name",
    "kind",
    "uscc",
    "industry",
    "region",
    "size",
    "address",
    "website",
    "stage",
    "grade",
    "owner_id",
    "team_id",
    "source",
    "discovered_by",
    "referred_by",
    "tags",
    "interests",
    "recommended_products",
    "target_amount",
)


def created_changes(customer: Customer, contact_count: int) -> dict[str, list[Any]]:
    changes = {
        name: [None, jsonable(getattr(customer, name))]
        for name in _AUDITED_ON_CREATE
        if getattr(customer, name) not in (None, [], "")
    }
    if contact_count:
        changes["contacts"] = [0, contact_count]
    return changes


async def update_customer(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> CustomerView:
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        require_editor(actor, customer)
        check_version(customer, expected_version)
        errors: list[dict[str, Any]] = []
        kind = changes.get("kind", customer.kind)
        if kind != "company" and "uscc" not in changes and customer.uscc:
            changes = {**changes, "uscc": None}
        fields = normalize_customer_fields(changes, kind=kind, errors=errors)
        if errors:
            raise InvalidInput("The change is not valid; see errors", errors=errors)
        await _check_referrer(uow, actor, fields.get("referred_by"), customer_id=customer.id)
        if fields.get("uscc") or "name_key" in fields:
            await uow.customers.lock_keys([fields.get("uscc"), fields.get("name_key")])
            candidates = await _duplicates(
                uow,
                actor,
                uscc=fields.get("uscc") if fields.get("uscc") != customer.uscc else None,
                name_key=fields.get("name_key") if fields.get("name_key") != customer.name_key else None,
                phones=(),
                emails=(),
                exclude_id=customer.id,
            )
            if candidates and actor.role not in DUPLICATE_OVERRIDERS:
                raise _duplicate_error(candidates)
        diff = apply_changes(customer, fields)
        diff.pop("name_key", None)
        if diff:
            contacts = await uow.contacts.for_customer(customer.id)
            customer.completeness = completeness_of(customer, contacts)
            uow.history.record(customer_id=customer.id, actor_id=actor.user_id, action="update", changes=diff)
            await uow.commit()
        return await _view(uow, actor, customer)


async def delete_customer(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, expected_version: int | None
) -> None:
    """Soft delete: the row stays (history, integrators' tombstones) but leaves every list."""
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
        require_editor(actor, customer)
        check_version(customer, expected_version)
        now = utcnow()
        customer.deleted_at = now
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="delete",
            changes={"deleted_at": [None, now.isoformat()]},
            at=now,
        )
        await uow.commit()


async def find_duplicates(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID
) -> list[DuplicateCandidate]:
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        contacts = await uow.contacts.for_customer(customer.id)
        return await _duplicates(
            uow,
            actor,
            uscc=customer.uscc,
            name_key=customer.name_key,
            phones=[p for c in contacts for p in c.phones],
            emails=[e for c in contacts for e in c.emails],
            exclude_id=customer.id,
        )


async def merge_customers(
    uow: UnitOfWork, actor: Principal, *, survivor_id: uuid.UUID, duplicate_id: uuid.UUID
) -> CustomerView:
    """Fold a duplicate into the survivor; the duplicate stays as a tombstone (merged_into)."""
    if survivor_id == duplicate_id:
        raise CustomerMergeSelf("A customer cannot be merged into itself")
    async with uow:
        # Lock both rows in id order so two opposite merges cannot deadlock.
        first, second = sorted([survivor_id, duplicate_id])
        locked = {
            cid: await uow.customers.get(cid, principal=actor, for_update=True) for cid in (first, second)
        }
        survivor = found(locked[survivor_id], "Customer")
        duplicate = found(locked[duplicate_id], "Duplicate customer")
        now = utcnow()
        moved = {
            "contacts": await uow.contacts.move_all(from_customer=duplicate.id, to_customer=survivor.id),
            "activities": await uow.activities.move_all(from_customer=duplicate.id, to_customer=survivor.id),
        }
        moved["tasks"] = await uow.tasks.move_all(from_customer=duplicate.id, to_customer=survivor.id)
        moved["funnel_records"] = await uow.funnel.move_all(
            from_customer=duplicate.id, to_customer=survivor.id
        ) + await uow.pool.move_events(from_customer=duplicate.id, to_customer=survivor.id)
        moved["history"] = await uow.history.move_all(from_customer=duplicate.id, to_customer=survivor.id)
        fill = {
            name: getattr(duplicate, name)
            for name in ("uscc", "industry", "region", "size", "address", "website")
            if getattr(survivor, name) in (None, "") and getattr(duplicate, name)
        }
        fill["tags"] = list(dict.fromkeys([*survivor.tags, *duplicate.tags]))
        fill["interests"] = list(dict.fromkeys([*survivor.interests, *duplicate.interests]))
        if duplicate.last_contact_at and (
            survivor.last_contact_at is None or duplicate.last_contact_at > survivor.last_contact_at
        ):
            fill["last_contact_at"] = duplicate.last_contact_at
        diff = apply_changes(survivor, fill)
        duplicate.merged_into = survivor.id
        duplicate.deleted_at = now
        await uow.flush()
        survivor.completeness = completeness_of(survivor, await uow.contacts.for_customer(survivor.id))
        uow.history.record(
            customer_id=survivor.id,
            actor_id=actor.user_id,
            action="merge",
            at=now,
            changes={**diff, "merged_from": [None, str(duplicate.id)], "moved": [None, moved]},
        )
        uow.history.record(
            customer_id=duplicate.id,
            actor_id=actor.user_id,
            action="merged_into",
            at=now,
            changes={"merged_into": [None, str(survivor.id)], "deleted_at": [None, now.isoformat()]},
        )
        await uow.commit()
        return await _view(uow, actor, survivor)
