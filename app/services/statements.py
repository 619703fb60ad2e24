"""Statement of account (对账单, SPEC §6): for a customer and a period, what was owed at the
start, every bill, payment, credit balance applied and write-off with a running balance, and
what is owed at the end — the same figure AR aging shows for the customer at that date."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from dataclasses import dataclass
from decimal import Decimal

from app.config import get_settings
from app.db.base import utcnow
from app.db.uow import UnitOfWork
from app.domain.credit import (
    StatementEntry,
    StatementKind,
    StatementLine,
    business_date,
    business_day_start,
    money,
    statement_lines,
)
from app.domain.errors import Forbidden, InvalidInput
from app.domain.roles import Principal
from app.services.common import business_tz, found
from app.services.credit import CREDIT_READERS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_KIND_LABELS = {
    StatementKind.receivable: "应收",
    StatementKind.payment: "回款",
    StatementKind.credit_applied: "预付款冲抵",
    StatementKind.write_off: "核销",
}


@dataclass(frozen=True, slots=True)
class Statement:
    company_name: str
    customer_id: uuid.UUID
    customer_name: str
    date_from: dt.date
    date_to: dt.date
    opening_balance: Decimal
    lines: tuple[StatementLine, ...]
    closing_balance: Decimal
    opening_credit_balance: Decimal
    credit_balance: Decimal  # at the end of the period


def _period(date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
    """Default: the current month up to today, in the business time zone."""
    today = business_date(utcnow(), business_tz())
    end = date_to or today
    start = date_from or end.replace(day=1)
    if start > end:
        raise InvalidInput(
            "The period starts after it ends",
            errors=[{"loc": ["query", "from"], "msg": "must not be after 'to'", "type": "value_error"}],
        )
    if (end - start).days > 3660:
        raise InvalidInput(
            "The period is too long",
            errors=[{"loc": ["query", "from"], "msg": "at most ten years", "type": "value_error"}],
        )
    return start, end


async def statement(
    uow: UnitOfWork,
    actor: Principal,
    *,
    customer_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Statement:
    """The customer's statement for ``date_from``..``date_to`` (calendar days in the business
    time zone, both included). Balances are what is owed on receivables; money not applied
    to any is the credit balance, shown apart."""
    if actor.role not in CREDIT_READERS:
        raise Forbidden(f"Your role ({actor.role}) may not do this")
    start_day, end_day = _period(date_from, date_to)
    tz = business_tz()
    try:
        start = business_day_start(start_day, tz)
        end = business_day_start(end_day + dt.timedelta(days=1), tz) - dt.timedelta(microseconds=1)
    except OverflowError as exc:
        raise InvalidInput(
            "The period is out of range",
            errors=[{"loc": ["query", "to"], "msg": "date out of range", "type": "value_error"}],
        ) from exc
    before = start - dt.timedelta(microseconds=1)
    async with uow:
        customer = found(await uow.customers.get(customer_id, principal=actor), "Customer")
        opening = await uow.receivables.outstanding_at(actor, customer.id, as_of=before)
        opening_credit = await uow.receivables.credit_balance_at(customer.id, as_of=before)
        closing_credit = await uow.receivables.credit_balance_at(customer.id, as_of=end)
        receivables, payments, applications = await uow.receivables.statement_facts(
            customer.id, start=start, end=end
        )
    entries: list[StatementEntry] = []
    for receivable, number in receivables:
        if start <= receivable.issued_at <= end:
            entries.append(
                StatementEntry(
                    at=receivable.issued_at,
                    kind=StatementKind.receivable,
                    reference=number,
                    debit=receivable.amount,
                    amount=receivable.amount,
                )
            )
        written_off_at = receivable.written_off_at
        if written_off_at is not None and start <= written_off_at <= end:
            left = receivable.amount - receivable.paid_amount
            entries.append(
                StatementEntry(
                    at=written_off_at,
                    kind=StatementKind.write_off,
                    reference=number,
                    credit=left,
                    amount=left,
                )
            )
    # Money applied when its payment arrived is shown on the payment's line; the rare part
    # applied later than the receipt (a bill issued after a back-dated payment) on a payment
    # line of its own at that time, so every credit is dated when it reduced the debt.
    on_receipt: dict[uuid.UUID, Decimal] = {}
    for application, payment, number in applications:
        reference = payment.reference or str(payment.id)[:8]
        if application.from_credit:
            entries.append(
                StatementEntry(
                    at=application.applied_at,
                    kind=StatementKind.credit_applied,
                    reference=f"{number} ← {reference}",
                    credit=application.amount,
                    amount=application.amount,
                )
            )
        elif application.applied_at == payment.received_at:
            on_receipt[payment.id] = on_receipt.get(payment.id, Decimal(0)) + application.amount
        else:
            entries.append(
                StatementEntry(
                    at=application.applied_at,
                    kind=StatementKind.payment,
                    reference=f"{reference} → {number}",
                    credit=application.amount,
                )
            )
    for payment in payments:
        entries.append(
            StatementEntry(
                at=payment.received_at,
                kind=StatementKind.payment,
                reference=payment.reference or str(payment.id)[:8],
                credit=on_receipt.get(payment.id, Decimal(0)),
                amount=payment.amount,
            )
        )
    lines, closing = statement_lines(opening, entries)
    return Statement(
        company_name=get_settings().company_name,
        customer_id=customer.id,
        customer_name=customer.name,
        date_from=start_day,
        date_to=end_day,
        opening_balance=money(opening),
        lines=lines,
        closing_balance=closing,
        opening_credit_balance=money(opening_credit),
        credit_balance=money(closing_credit),
    )


def line_date(line: StatementLine) -> dt.date:
    """The calendar date of a statement line in the business time zone."""
    return business_date(line.entry.at, business_tz())


def statement_xlsx(data: Statement) -> bytes:
    """The statement as a workbook a finance clerk can send: company and customer on top,
    Chinese headers, amounts as numbers with two decimals."""
    import openpyxl  # only the XLSX answer pays for it
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "对账单"
    sheet.append([data.company_name])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(["客户对账单"])
    sheet.append(["客户名称", data.customer_name])
    sheet.append(["对账期间", f"{data.date_from.isoformat()} 至 {data.date_to.isoformat()}"])
    sheet.append([])
    sheet.append(["日期", "类型", "单据", "借方(应收)", "贷方(收款/冲抵/核销)", "余额"])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    sheet.append([data.date_from.isoformat(), "期初余额", "", None, None, data.opening_balance])
    for line in data.lines:
        entry = line.entry
        sheet.append(
            [
                line_date(line).isoformat(),
                _KIND_LABELS[entry.kind],
                entry.reference,
                entry.debit or None,
                entry.credit or None,
                line.balance,
            ]
        )
    sheet.append([data.date_to.isoformat(), "期末余额", "", None, None, data.closing_balance])
    sheet.append([])
    sheet.append(["期末预付款余额", "", "", None, None, data.credit_balance])
    for row in sheet.iter_rows(min_row=header_row + 1, min_col=4, max_col=6):
        for cell in row:
            cell.number_format = "#,##0.00"
    for column, width in zip("ABCDEF", (12, 12, 28, 14, 20, 14), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
