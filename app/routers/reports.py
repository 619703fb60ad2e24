"""Receivables reports: AR aging and bad-debt provision, both computed in SQL at a date."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.domain import errors
from app.domain.credit import AgingBucket
from app.domain.roles import Principal
from app.routers.deps import UoW, allow
from app.routers.problems import responses
from app.routers.schemas.credit import (
    AgingBucketRead,
    AgingReportRead,
    AgingRowRead,
    BucketActions,
    BucketAmounts,
    ProvisionLineRead,
    ProvisionReportRead,
    RenewalDueRead,
    RenewalsReportRead,
    WrittenOffRead,
)
from app.services import contracts as contracts_service
from app.services import credit as credit_service

router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Annotated[Principal, allow(*credit_service.REPORT_READERS)]
AsOf = Annotated[
    dt.date | None,
    Query(
        description="Report date (YYYY-MM-DD, business time zone): "
        "the state at "
        "the end of that day; default today. Past and future "
        "dates are allowed"
    ),
]


def _by_bucket(values: dict[AgingBucket, object]) -> dict[str, object]:
    return {bucket.value: value for bucket, value in values.items()}


@router.get(
    "/ar-aging",
    operation_id="reports_ar_aging",
    response_model=AgingReportRead,
    responses=responses(errors.Forbidden),
)
async def ar_aging(
    actor: Reader, uow: UoW, group_by: Literal["customer", "owner", "team"] = "customer", as_of: AsOf = None
) -> AgingReportRead:
    """Receivables outstanding at `as_of` by days past due (current, 1-30, 31-60, 61-90,
    91-180, >180) per customer, owner or team, with totals and the suggested collection
    action. Reps see their own customers, managers their teams'."""
    report = await credit_service.ar_aging(uow, actor, group_by=group_by, as_of=as_of)
    return AgingReportRead(
        as_of=report.as_of,
        group_by=report.group_by,
        buckets=[
            AgingBucketRead(
                code=b.bucket,
                label=b.label,
                min_days_past_due=b.min_days_past_due,
                max_days_past_due=b.max_days_past_due,
                collection_action=b.collection_action,
            )
            for b in report.buckets
        ],
        rows=[
            AgingRowRead(
                key=r.key,
                name=r.name,
                amounts=BucketAmounts(**_by_bucket(r.amounts)),
                total=r.total,
                oldest_bucket=r.oldest_bucket,
                collection_action=r.collection_action,
                actions=BucketActions(**_by_bucket(r.actions)),
            )
            for r in report.rows
        ],
        totals=BucketAmounts(**_by_bucket(report.totals)),
        total=report.total,
    )


@router.get(
    "/bad-debt-provision",
    operation_id="reports_bad_debt_provision",
    response_model=ProvisionReportRead,
    responses=responses(errors.Forbidden),
)
async def bad_debt_provision(actor: Reader, uow: UoW, as_of: AsOf = None) -> ProvisionReportRead:
    """Provision per aging bucket at the configured rates, plus receivables written off by
    `as_of` at 100%, and the total."""
    report = await credit_service.bad_debt_provision(uow, actor, as_of=as_of)
    return ProvisionReportRead(
        as_of=report.as_of,
        buckets=[ProvisionLineRead.model_validate(line) for line in report.buckets],
        outstanding_total=report.outstanding_total,
        written_off=WrittenOffRead(
            amount=report.written_off, rate=report.written_off_rate, provision=report.written_off_provision
        ),
        total_provision=report.total_provision,
    )


@router.get(
    "/renewals",
    operation_id="reports_renewals",
    response_model=RenewalsReportRead,
    responses=responses(errors.Forbidden),
)
async def renewals(
    actor: Reader,
    uow: UoW,
    as_of: AsOf = None,
    date_from: Annotated[
        dt.date | None,
        Query(
            alias="from",
            description="Start of the period whose "
            "service ends the rate is measured on; default a year "
            "before `to`",
        ),
    ] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="Its end; default `as_of`")] = None,
) -> RenewalsReportRead:
    """Renewal-due customers (implemented, service ending within `renewal_notice_days` or
    ended, not yet renewed), soonest end first, and the renewal rate (renewed ÷ due) of the
    service periods that ended in the period."""
    report = await contracts_service.renewals(uow, actor, as_of=as_of, date_from=date_from, date_to=date_to)
    return RenewalsReportRead(
        as_of=report.as_of,
        renewal_notice_days=report.renewal_notice_days,
        due=[
            RenewalDueRead(
                customer_id=d.customer.id,
                name=d.customer.name,
                owner_id=d.customer.owner_id,
                team_id=d.customer.team_id,
                contract_id=d.contract.id,
                contract_number=d.contract.number,
                service_end=d.service_end,
                days_left=d.days_left,
            )
            for d in report.due
        ],
        date_from=report.date_from,
        date_to=report.date_to,
        due_count=report.due_count,
        renewed_count=report.renewed_count,
        renewal_rate=report.renewal_rate,
    )
