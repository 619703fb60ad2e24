"""Which scope a route needs from an API key, and the key format."""

from __future__ import annotations

import datetime as dt

import pytest

from app.domain import apikeys
from app.domain.apikeys import check_scope, required_scope
from app.domain.errors import MissingScope

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "method, path, scope",
    [
        ("GET", "/customers", "customers:read"),
        ("GET", "/customers/{customer_id}", "customers:read"),
        ("GET", "/customers/export", "customers:read"),
        ("GET", "/customers/{customer_id}/contacts", "contacts:read"),
        ("GET", "/customers/{customer_id}/credit/limit-history", "credit:read"),
        ("GET", "/activities", "activities:read"),
        ("GET", "/receivables/{receivable_id}", "receivables:read"),
        ("HEAD", "/payments", "payments:read"),
        ("GET", "/credit-limit-requests", "credit:read"),
        ("GET", "/reports/ar-aging", "reports:read"),
        ("GET", "/changes", "changes:read"),
        ("POST", "/webhooks", "webhooks:manage"),
        ("DELETE", "/webhooks/{webhook_id}", "webhooks:manage"),
        ("GET", "/me", None),
    ],
)
def test_required_scope(method, path, scope):
    assert required_scope(method, path) == scope


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/customers"),
        ("PATCH", "/customers/{customer_id}"),
        ("GET", "/users"),
        ("GET", "/api-keys"),
        ("GET", "/customersx"),
        ("GET", "/sync/pull"),
        ("GET", "/me/worklist"),
    ],
)
def test_paths_no_key_may_call(method, path):
    with pytest.raises(MissingScope):
        required_scope(method, path)


def test_check_scope_names_the_missing_one():
    check_scope(frozenset({"payments:read"}), method="GET", path="/payments")
    with pytest.raises(MissingScope) as caught:
        check_scope(frozenset({"payments:read"}), method="GET", path="/contracts")
    assert caught.value.extra["required_scope"] == "contracts:read"
    assert caught.value.code == "forbidden.scope"


@pytest.mark.parametrize(
    "key, lookup",
    [
        ("crm_abcdefghijkl_secret", "abcdefghijkl"),
        ("crm_abcdefghijk_secret", None),
        ("crm_abcdefghijkl_", None),
        ("crm_abcdefghijkl", None),
        ("crm_", None),
    ],
)
def test_lookup_of(key, lookup):
    assert apikeys.lookup_of(key) == lookup


@pytest.mark.parametrize(
    "last, due", [(None, True), (NOW - dt.timedelta(minutes=4), False), (NOW - dt.timedelta(minutes=5), True)]
)
def test_touch_is_throttled(last, due):
    assert apikeys.is_due_for_touch(last, now=NOW, every=dt.timedelta(minutes=5)) is due
