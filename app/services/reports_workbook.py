"""The funnel report as the seed's own workbook ("按漏斗层次设置子表"): a summary sheet with
a funnel chart of actual against ideal holding, and one sheet per stage listing its
customers. Built with openpyxl (its chart support draws the funnel), in Chinese."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from dataclasses import dataclass

from app.config import get_settings
from app.db.base import utcnow
from app.db.uow import UnitOfWork
from app.domain.funnel import days_in_stage
from app.domain.reports import REPORT_STAGES, resolve_period
from app.domain.roles import Principal
from app.services.reports_funnel import (
    FunnelReport,
    business_today,
    funnel_report_in,
    resolve_subject_in,
)

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows per stage sheet at most (longest in the stage first); a note says when cut.
MAX_STAGE_ROWS = 10_000

STAGE_NAMES = {
    "resource": "客户资源",
    "graded": "已分级客户",
    "contacted": "已接触客户",
    "lead": "有线索客户",
    "intent": "意向客户",
    "signed": "签约客户",
    "implemented": "已实施客户",
    "abandoned": "放弃客户",
}
REASON_NAMES = {
    "refused": "拒绝",
    "unreachable": "联系不上",
    "unsuitable": "不合适",
    "bought_competitor": "已购竞品",
    "duplicate": "重复",
    "other": "其他",
}
SUMMARY_SHEET = "漏斗汇总"
STAGE_HEADERS = ("阶段", "客户数", "金额", "人均持有", "理想持有", "停滞客户数")
STEP_HEADERS = ("环节", "进入", "转化", "转化率", "理想转化率", "中位天数", "理想天数")
CUSTOMER_HEADERS = ("客户名称", "负责人", "在本阶段天数", "最近联系", "下次跟进")


@dataclass(frozen=True, slots=True)
class Workbook:
    filename: str
    content: bytes


def _number(value: object) -> float | int | None:
    # Excel cells hold numbers; the JSON report keeps exact decimals.
    return None if value is None else float(value) if not isinstance(value, int) else value


async def funnel_workbook(
    uow: UnitOfWork,
    actor: Principal,
    *,
    start: dt.date | None,
    end: dt.date | None,
    team_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
) -> Workbook:
    now = utcnow()
    period = resolve_period(start, end, today=business_today(now))
    async with uow:
        subject = await resolve_subject_in(uow, actor, team_id=team_id, owner_id=owner_id)
        report = await funnel_report_in(uow, subject, period, now=now)
        stage_rows = {
            stage.value: await uow.reports.stage_customers(
                stage.value, owner_ids=subject.owner_ids, team_ids=subject.team_ids, limit=MAX_STAGE_ROWS + 1
            )
            for stage in REPORT_STAGES
        }
    content = _build(report, stage_rows, now=now)
    name = f"funnel_{report.period.start.isoformat()}_{report.period.end.isoformat()}.xlsx"
    return Workbook(filename=name, content=content)


def _build(report: FunnelReport, stage_rows: dict[str, list[tuple]], *, now: dt.datetime) -> bytes:
    from openpyxl import Workbook as XlsxWorkbook  # only the export pays for the import
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    tz = get_settings().tz
    book = XlsxWorkbook()
    summary = book.active
    summary.title = SUMMARY_SHEET
    bold = Font(bold=True)
    summary.append(["销售漏斗报表", f"{report.period.start} 至 {report.period.end}（不含）"])
    summary.append(["生成于", f"{now.astimezone(tz):%Y-%m-%d %H:%M}"])
    summary.append([])
    summary.append(list(STAGE_HEADERS))
    first_stage_row = summary.max_row + 1
    for stage in report.stages:
        summary.append(
            [
                STAGE_NAMES[stage.stage.value],
                stage.count,
                _number(stage.amount),
                _number(stage.holding_per_rep),
                stage.ideal_holding,
                stage.stalled,
            ]
        )
    last_stage_row = summary.max_row
    summary.append([])
    summary.append(list(STEP_HEADERS))
    for step in report.flow.steps:
        summary.append(
            [
                f"{STAGE_NAMES[step.from_stage.value]} → {STAGE_NAMES[step.to_stage.value]}",
                step.entered,
                step.converted,
                _number(step.conversion),
                _number(step.ideal_conversion),
                _number(step.median_days),
                _number(step.ideal_days),
            ]
        )
    summary.append([])
    summary.append(["放弃客户", report.flow.abandoned])
    for reason, count in report.flow.abandoned_by_reason.items():
        summary.append([f"  {REASON_NAMES.get(reason, reason)}", count])
    summary.append(["签约客户", report.flow.signed])
    summary.append(["漏斗外签约", report.flow.out_of_funnel_signed])
    for row in summary.iter_rows():
        for cell in row:
            if cell.value in STAGE_HEADERS or cell.value in STEP_HEADERS:
                cell.font = bold
    summary.column_dimensions["A"].width = 26
    for column in "BCDEFG":
        summary.column_dimensions[column].width = 11
    # Printed (and rendered) as one landscape page.
    summary.page_setup.orientation = "landscape"
    summary.sheet_properties.pageSetUpPr.fitToPage = True
    summary.page_setup.fitToWidth, summary.page_setup.fitToHeight = 1, 1

    # The funnel: stages top to bottom, actual holding per rep against the ideal.
    chart = BarChart()
    chart.type = "bar"
    chart.title = "销售漏斗：实际与理想（人均持有）"
    chart.y_axis.title = "人均持有客户数"
    chart.x_axis.scaling.orientation = "maxMin"  # the first stage on top, like a funnel
    data = Reference(
        summary, min_col=4, max_col=5, min_row=first_stage_row - 1, max_row=last_stage_row - 1
    )  # without 放弃客户
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(summary, min_col=1, min_row=first_stage_row, max_row=last_stage_row - 1))
    chart.legend.position = "b"
    chart.height, chart.width = 9, 18
    summary.add_chart(chart, f"A{summary.max_row + 2}")  # below the tables: one printed page

    for stage in REPORT_STAGES:
        sheet = book.create_sheet(STAGE_NAMES[stage.value])
        sheet.append(list(CUSTOMER_HEADERS))
        for cell in sheet[1]:
            cell.font = bold
        rows = stage_rows.get(stage.value, [])
        for name, owner, entered_at, last_contact, follow_up in rows[:MAX_STAGE_ROWS]:
            sheet.append(
                [
                    name,
                    owner or "（公海）",
                    _number(days_in_stage(entered_at, now=now)),
                    _local(last_contact, tz),
                    _local(follow_up, tz),
                ]
            )
        if len(rows) > MAX_STAGE_ROWS:
            sheet.append([f"仅列出在本阶段最久的 {MAX_STAGE_ROWS} 位客户"])
        sheet.column_dimensions["A"].width = 32
        for column in "BCDE":
            sheet.column_dimensions[column].width = 18
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _local(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return None if value is None else f"{value.astimezone(tz):%Y-%m-%d %H:%M}"
