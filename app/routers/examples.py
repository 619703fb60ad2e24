"""Request and response examples of the main operations, shown in /docs and in the OpenAPI file.

Keyed by operation id; ``tests/contract/test_openapi.py`` validates each one against its schema,
so an example cannot drift from the contract.
"""

from __future__ import annotations

from typing import Any

_CUSTOMER_ID = "5f0c3b1e-7a2d-4c1b-9a53-2f6a8f1d2c10"
_CONTACT_ID = "8b2f6c1a-3d4e-4f50-8a61-7b8c9d0e1f21"
_OWNER_ID = "0a46374c-d9dc-4df8-b1cf-9b3c906da0ed"
_TEAM_ID = "6535a2c5-9848-4f5b-992d-3517c069f158"
_CONTRACT_ID = "c7d8e9f0-1a2b-4c3d-8e4f-5a6b7c8d9e01"
_AT = "2026-11-25T15:04:16.818265Z"

_CONTACT = {
    "id": _CONTACT_ID,
    "customer_id": _CUSTOMER_ID,
    "name": "王经理 Wang",
    "title": "采购经理",
    "phones": ["+8613800138000"],
    "emails": ["wang@acme.example"],
    "wechat": None,
    "is_primary": True,
    "notes": None,
    "masked": False,
    "created_at": _AT,
    "updated_at": _AT,
    "version": 1,
}
_CUSTOMER = {
    "id": _CUSTOMER_ID,
    "name": "上海顶峰机械有限公司",
    "kind": "company",
    "uscc": None,
    "industry": "制造业",
    "region": "上海",
    "size": "50-199",
    "address": None,
    "website": None,
    "stage": "resource",
    "grade": None,
    "owner_id": _OWNER_ID,
    "team_id": _TEAM_ID,
    "source": "self_discovered",
    "discovered_by": _OWNER_ID,
    "referred_by": None,
    "tags": ["ERP"],
    "interests": [],
    "recommended_products": [],
    "target_amount": None,
    "notes": None,
    "last_contact_at": None,
    "claimed_at": _AT,
    "stage_entered_at": _AT,
    "out_of_funnel": False,
    "cooldown_until": None,
    "completeness": 55,
    "created_at": _AT,
    "updated_at": _AT,
    "deleted_at": None,
    "merged_into": None,
    "version": 1,
}
_CONTRACT = {
    "id": _CONTRACT_ID,
    "customer_id": _CUSTOMER_ID,
    "number": "HT-2026-0042",
    "amount": "20000.00",
    "payment_terms_days": 30,
    "status": "signed",
    "owner_id": _OWNER_ID,
    "team_id": _TEAM_ID,
    "created_by": _OWNER_ID,
    "signed_at": _AT,
    "signed_by": _OWNER_ID,
    "override_reason": None,
    "override_by": None,
    "accepted_at": None,
    "completed_at": None,
    "cancelled_at": None,
    "cancel_reason": None,
    "service_start": "2027-01-01",
    "service_end": "2027-12-31",
    "created_at": _AT,
    "updated_at": _AT,
    "version": 2,
}
_COMPLAINT_ID = "e3a1f7c2-5b6d-4e8f-9a0b-1c2d3e4f5a60"
_COMPLAINT = {
    "id": _COMPLAINT_ID,
    "customer_id": _CUSTOMER_ID,
    "category": "delivery",
    "severity": "high",
    "subject": "货物到货破损",
    "description": "Two of ten crates arrived damaged",
    "handler_id": _OWNER_ID,
    "status": "open",
    "respond_by": "2026-11-26T15:04:16.818265Z",
    "resolve_by": "2026-11-28T15:04:16.818265Z",
    "responded_at": None,
    "resolved_at": None,
    "closed_at": None,
    "resolution": None,
    "overdue": False,
    "responded_on_time": False,
    "created_by": _OWNER_ID,
    "created_at": _AT,
    "updated_at": _AT,
    "version": 1,
}

REQUESTS: dict[str, dict[str, Any]] = {
    "customers_create": {
        "name": "上海顶峰机械有限公司",
        "industry": "制造业",
        "region": "上海",
        "size": "50-199",
        "tags": ["ERP"],
        "contacts": [
            {
                "name": "王经理 Wang",
                "title": "采购经理",
                "phones": ["13800138000"],
                "emails": ["wang@acme.example"],
                "is_primary": True,
            }
        ],
    },
    "customers_update": {"region": "上海", "target_amount": "80000.00"},
    "customers_transition": {
        "to_stage": "graded",
        "grade": "A",
        "recommended_products": ["ERP"],
        "target_amount": "80000.00",
    },
    "contacts_create": {"name": "李工 Li", "phones": ["021-6552-9988"], "is_primary": False},
    "contracts_create": {"customer_id": _CUSTOMER_ID, "number": "HT-2026-0042", "amount": "20000.00"},
    "contracts_sign": {"override": {"reason": "New customer; credit checked by finance"}},
    "payments_create": {
        "customer_id": _CUSTOMER_ID,
        "amount": "5000.00",
        "received_at": _AT,
        "reference": "BANK-20261125-01",
    },
    "activities_create": {
        "customer_id": _CUSTOMER_ID,
        "type": "call",
        "occurred_at": _AT,
        "subject": "Introduction",
        "outcome": "Asked for a quote",
    },
    "pool_allocate": {"strategy": "fat_man", "dry_run": True},
    "complaints_create": {
        "customer_id": _CUSTOMER_ID,
        "category": "delivery",
        "severity": "high",
        "subject": "货物到货破损",
        "description": "Two of ten crates arrived damaged",
        "handler_id": _OWNER_ID,
    },
    "complaints_update": {"status": "in_progress"},
    "surveys_create": {
        "customer_id": _CUSTOMER_ID,
        "kind": "nps",
        "score": 9,
        "comment": "Quick fix",
        "complaint_id": _COMPLAINT_ID,
    },
}

RESPONSES: dict[str, dict[str, Any]] = {
    "customers_create": {**_CUSTOMER, "contacts": [_CONTACT]},
    "customers_get": {**_CUSTOMER, "contacts": [_CONTACT]},
    "customers_list": {"items": [_CUSTOMER], "next_cursor": "eyJzIjoiLXVwZGF0ZWRfYXQiLCJrIjpbXX0"},
    "contacts_list": {"items": [_CONTACT], "next_cursor": None},
    "contracts_create": {**_CONTRACT, "status": "draft", "signed_at": None, "signed_by": None, "version": 1},
    "contracts_sign": {
        **_CONTRACT,
        "override_reason": "New customer; credit checked by finance",
        "override_by": _OWNER_ID,
    },
    "pool_allocate": {
        "strategy": "fat_man",
        "dry_run": True,
        "assignments": [
            {
                "customer_id": _CUSTOMER_ID,
                "owner_id": _OWNER_ID,
                "team_id": _TEAM_ID,
                "reason": "rank 1 of 3 by signed amount (90000.00)",
                "applied": False,
            }
        ],
        "unassigned": [],
    },
    "complaints_create": _COMPLAINT,
    "complaints_update": {
        **_COMPLAINT,
        "status": "in_progress",
        "responded_at": _AT,
        "responded_on_time": True,
        "version": 2,
    },
}


def add_examples(operation: dict[str, Any]) -> None:
    """Put the examples of ``operation`` (if it has any) on its JSON request and 2xx response."""
    operation_id = operation.get("operationId", "")
    if operation_id in REQUESTS:
        content = operation["requestBody"]["content"]["application/json"]
        content["example"] = REQUESTS[operation_id]
    if operation_id in RESPONSES:
        status = next(s for s in operation["responses"] if s.startswith("2"))
        content = operation["responses"][status]["content"]["application/json"]
        content["example"] = RESPONSES[operation_id]
