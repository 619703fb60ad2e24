"""Use cases for a customer's contacts; every change is recorded in the customer's history."""

from __future__ import annotations

import uuid
from typing import Any

from app.db.base import utcnow
from app.db.models import Contact, Customer
from app.db.repositories.pagination import DEFAULT_LIMIT, Page
from app.db.uow import UnitOfWork
from app.domain.errors import InvalidInput
from app.domain.roles import Principal, masks_contact_details
from app.services.common import apply_changes, check_version, found, jsonable
from app.services.customers import (
    ContactInput,
    ContactView,
    completeness_of,
    contact_view,
    normalize_contact,
    require_editor,
)


async def _editable_customer(uow: UnitOfWork, actor: Principal, customer_id: uuid.UUID) -> Customer:
    # Locking the customer serialises contact edits with customer edits and merges.
    customer = found(await uow.customers.get(customer_id, principal=actor, for_update=True), "Customer")
    require_editor(actor, customer)
    return customer


async def _refresh_completeness(uow: UnitOfWork, customer: Customer) -> None:
    customer.completeness = completeness_of(customer, await uow.contacts.for_customer(customer.id))


async def list_contacts(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[ContactView]:
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        masked = masks_contact_details(actor, owner_id=customer.owner_id)
        page = await uow.contacts.page_for_customer(customer.id, cursor=cursor, limit=limit)
        return Page(items=[contact_view(c, masked=masked) for c in page.items], next_cursor=page.next_cursor)


async def create_contact(
    uow: UnitOfWork, actor: Principal, *, customer_id: uuid.UUID, data: ContactInput
) -> ContactView:
    errors: list[dict[str, Any]] = []
    values = normalize_contact(data, loc=("body",), errors=errors)
    if errors:
        raise InvalidInput("The contact is not valid; see errors", errors=errors)
    async with uow:
        customer = await _editable_customer(uow, actor, customer_id)
        contact = Contact(id=uuid.uuid4(), customer_id=customer.id, **values)
        uow.contacts.add(contact)
        await uow.flush()
        await uow.contacts.replace_points(contact)
        await _refresh_completeness(uow, customer)
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="contact_create",
            entity="contact",
            entity_id=contact.id,
            changes={k: [None, jsonable(v)] for k, v in values.items() if v not in (None, [], "", False)},
        )
        await uow.commit()
        return contact_view(contact, masked=False)


async def update_contact(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    expected_version: int | None,
    changes: dict[str, Any],
) -> ContactView:
    async with uow:
        customer = await _editable_customer(uow, actor, customer_id)
        contact = found(await uow.contacts.get(customer.id, contact_id, for_update=True), "Contact")
        check_version(contact, expected_version)
        current = ContactInput(
            name=contact.name,
            title=contact.title,
            phones=contact.phones,
            emails=contact.emails,
            wechat=contact.wechat,
            is_primary=contact.is_primary,
            notes=contact.notes,
        )
        merged = _merge(current, changes)
        errors: list[dict[str, Any]] = []
        values = normalize_contact(merged, loc=("body",), errors=errors)
        if errors:
            raise InvalidInput("The contact is not valid; see errors", errors=errors)
        diff = apply_changes(contact, {k: v for k, v in values.items() if k in changes})
        if diff:
            await uow.flush()
            await uow.contacts.replace_points(contact)
            await _refresh_completeness(uow, customer)
            uow.history.record(
                customer_id=customer.id,
                actor_id=actor.user_id,
                action="contact_update",
                entity="contact",
                entity_id=contact.id,
                changes=diff,
            )
            await uow.commit()
        return contact_view(contact, masked=False)


def _merge(current: ContactInput, changes: dict[str, Any]) -> ContactInput:
    fields = {name: getattr(current, name) for name in ContactInput.__dataclass_fields__}
    fields.update({k: v for k, v in changes.items() if k in fields})
    return ContactInput(**fields)


async def delete_contact(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    contact_id: uuid.UUID,
    expected_version: int | None,
) -> None:
    async with uow:
        customer = await _editable_customer(uow, actor, customer_id)
        contact = found(await uow.contacts.get(customer.id, contact_id, for_update=True), "Contact")
        check_version(contact, expected_version)
        now = utcnow()
        contact.deleted_at = now
        await uow.flush()
        await uow.contacts.replace_points(contact)
        await _refresh_completeness(uow, customer)
        uow.history.record(
            customer_id=customer.id,
            actor_id=actor.user_id,
            action="contact_delete",
            entity="contact",
            entity_id=contact.id,
            changes={"deleted_at": [None, now.isoformat()], "name": [contact.name, None]},
        )
        await uow.commit()
