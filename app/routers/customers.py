"""Customers: master data, contacts, history, duplicates and merge."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from app.domain.funnel import Stage
from app.domain.roles import MASTER_DATA_STEWARDS, MASTER_DATA_WRITERS, Principal
from app.routers.deps import Caller, Cursor, IfMatch, Limit, UoW, allow, set_etag
from app.routers.problems import responses
from app.routers.schemas.common import Page
from app.routers.schemas.customers import (
    ContactIn,
    ContactRead,
    ContactUpdate,
    CustomerCreate,
    CustomerDetail,
    CustomerRead,
    CustomerUpdate,
    DuplicateList,
    DuplicateRead,
    Grade,
    HistoryRead,
    MergeRequest,
    Source,
)
from app.services import contacts as contacts_service
from app.services import customers as customers_service

router = APIRouter(prefix="/customers", tags=["customers"])

Writer = Annotated[Principal, allow(*MASTER_DATA_WRITERS)]
Steward = Annotated[Principal, allow(*MASTER_DATA_STEWARDS)]


def detail(view: customers_service.CustomerView) -> CustomerDetail:
    return CustomerDetail(**CustomerRead.model_validate(view.customer).model_dump(),
                          contacts=[ContactRead.model_validate(c) for c in view.contacts or []])


@router.get("", operation_id="customers_list", response_model=Page[CustomerRead],
            responses=responses(400, 401, 422))
async def list_customers(
    actor: Caller, uow: UoW, cursor: Cursor = None, limit: Limit = 50,
    stage: Stage | None = None, grade: Grade | None = None, owner_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None, region: Annotated[str | None, Query(max_length=100)] = None,
    industry: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None, source: Source | None = None,
    pool: Annotated[bool | None, Query(description="true: only unowned; false: only owned")] = None,
    q: Annotated[str | None, Query(max_length=200, description=(
        "Search: a phone (any format), an email, a USCC, or a fragment of the customer's or a "
        "contact's name"))] = None,
    updated_since: AwareDatetime | None = None,
    include_deleted: Annotated[bool, Query(description="Include soft-deleted and merged "
                                           "customers (tombstones)")] = False,
    sort: Literal["updated_at", "-updated_at", "name", "-name"] = "-updated_at",
) -> Page[CustomerRead]:
    """Customers in the caller's scope, filtered, sorted and cursor-paginated."""
    query = customers_service.CustomerQuery(
        stage=stage, grade=grade, owner_id=owner_id, team_id=team_id, region=region,
        industry=industry, tag=tag, source=source, pool=pool, q=q, updated_since=updated_since,
        include_deleted=include_deleted)
    page = await customers_service.list_customers(uow, actor, query=query, sort=sort, cursor=cursor,
                                                  limit=limit)
    return Page[CustomerRead](items=[CustomerRead.model_validate(c) for c in page.items],
                              next_cursor=page.next_cursor)


@router.post("", operation_id="customers_create", response_model=CustomerDetail,
             status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 409, 422))
async def create_customer(body: CustomerCreate, actor: Writer, uow: UoW, response: Response,
                          allow_duplicate: bool = False) -> CustomerDetail:
    """Create a customer with its contacts. A likely duplicate answers 409 `customer.duplicate`
    with the candidates, unless `allow_duplicate=true` (support and directors)."""
    data = body.model_dump(exclude={"contacts"}, exclude_unset=True)
    data.setdefault("kind", body.kind)
    contacts = [customers_service.ContactInput(**c.model_dump()) for c in body.contacts]
    view = await customers_service.create_customer(uow, actor, data=data, contacts=contacts,
                                                   allow_duplicate=allow_duplicate)
    set_etag(response, view.customer.version)
    response.headers["Location"] = f"/api/v1/customers/{view.customer.id}"
    return detail(view)


@router.get("/duplicates", operation_id="customers_duplicates", response_model=DuplicateList,
            responses=responses(401, 404, 422))
async def list_duplicates(customer_id: uuid.UUID, actor: Caller, uow: UoW) -> DuplicateList:
    """Likely duplicates of a customer: same USCC, a shared phone or email, or the same name."""
    candidates = await customers_service.find_duplicates(uow, actor, customer_id=customer_id)
    return DuplicateList(items=[DuplicateRead.model_validate(c) for c in candidates])


@router.get("/{customer_id}", operation_id="customers_get", response_model=CustomerDetail,
            responses=responses(401, 404, 422))
async def get_customer(customer_id: uuid.UUID, actor: Caller, uow: UoW, response: Response,
                       include_deleted: bool = False) -> CustomerDetail:
    view = await customers_service.get_customer(uow, actor, customer_id=customer_id,
                                                include_deleted=include_deleted)
    set_etag(response, view.customer.version)
    return detail(view)


@router.patch("/{customer_id}", operation_id="customers_update", response_model=CustomerDetail,
              responses=responses(400, 401, 403, 404, 409, 412, 422))
async def update_customer(customer_id: uuid.UUID, body: CustomerUpdate, actor: Writer, uow: UoW,
                          expected_version: IfMatch, response: Response) -> CustomerDetail:
    """Change master data. Stage, owner and grade change through their own actions."""
    view = await customers_service.update_customer(uow, actor, customer_id=customer_id,
                                                   expected_version=expected_version,
                                                   changes=body.model_dump(exclude_unset=True))
    set_etag(response, view.customer.version)
    return detail(view)


@router.delete("/{customer_id}", operation_id="customers_delete",
               status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(400, 401, 403, 404, 412, 422))
async def delete_customer(customer_id: uuid.UUID, actor: Writer, uow: UoW,
                          expected_version: IfMatch) -> None:
    """Soft delete: the customer leaves every list but stays in history and for integrators."""
    await customers_service.delete_customer(uow, actor, customer_id=customer_id,
                                            expected_version=expected_version)


@router.get("/{customer_id}/history", operation_id="customers_history",
            response_model=Page[HistoryRead], responses=responses(400, 401, 404, 422))
async def customer_history(customer_id: uuid.UUID, actor: Caller, uow: UoW, cursor: Cursor = None,
                           limit: Limit = 50) -> Page[HistoryRead]:
    """Every change to the customer and its contacts: who, when, field, old → new; newest first."""
    page = await customers_service.customer_history(uow, actor, customer_id=customer_id,
                                                    cursor=cursor, limit=limit)
    return Page[HistoryRead](items=[HistoryRead.model_validate(h) for h in page.items],
                             next_cursor=page.next_cursor)


@router.post("/{customer_id}/merge", operation_id="customers_merge", response_model=CustomerDetail,
             responses=responses(401, 403, 404, 412, 422))
async def merge_customer(customer_id: uuid.UUID, body: MergeRequest, actor: Steward,
                         uow: UoW, response: Response) -> CustomerDetail:
    """Merge `duplicate_id` into this customer; the duplicate becomes a tombstone (`merged_into`)."""
    view = await customers_service.merge_customers(uow, actor, survivor_id=customer_id,
                                                   duplicate_id=body.duplicate_id)
    set_etag(response, view.customer.version)
    return detail(view)


@router.get("/{customer_id}/contacts", operation_id="contacts_list",
            response_model=list[ContactRead], responses=responses(401, 404, 422))
async def list_contacts(customer_id: uuid.UUID, actor: Caller, uow: UoW) -> list[ContactRead]:
    contacts = await contacts_service.list_contacts(uow, actor, customer_id=customer_id)
    return [ContactRead.model_validate(c) for c in contacts]


@router.post("/{customer_id}/contacts", operation_id="contacts_create", response_model=ContactRead,
             status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 404, 422))
async def create_contact(customer_id: uuid.UUID, body: ContactIn, actor: Writer, uow: UoW,
                         response: Response) -> ContactRead:
    contact = await contacts_service.create_contact(
        uow, actor, customer_id=customer_id,
        data=customers_service.ContactInput(**body.model_dump()))
    set_etag(response, contact.version)
    return ContactRead.model_validate(contact)


@router.patch("/{customer_id}/contacts/{contact_id}", operation_id="contacts_update",
              response_model=ContactRead, responses=responses(400, 401, 403, 404, 412, 422))
async def update_contact(customer_id: uuid.UUID, contact_id: uuid.UUID, body: ContactUpdate,
                         actor: Writer, uow: UoW, expected_version: IfMatch,
                         response: Response) -> ContactRead:
    contact = await contacts_service.update_contact(
        uow, actor, customer_id=customer_id, contact_id=contact_id,
        expected_version=expected_version, changes=body.model_dump(exclude_unset=True))
    set_etag(response, contact.version)
    return ContactRead.model_validate(contact)


@router.delete("/{customer_id}/contacts/{contact_id}", operation_id="contacts_delete",
               status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(400, 401, 403, 404, 412, 422))
async def delete_contact(customer_id: uuid.UUID, contact_id: uuid.UUID, actor: Writer, uow: UoW,
                         expected_version: IfMatch) -> None:
    await contacts_service.delete_contact(uow, actor, customer_id=customer_id, contact_id=contact_id,
                                          expected_version=expected_version)


