"""Webhook rules: the retry schedule, giving up, and which targets are public."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from app.domain import webhooks as rules
from app.domain.errors import InvalidInput

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("attempts, ceiling", [(1, 10), (2, 20), (3, 40), (10, 5120), (11, 7200), (30, 7200)])
def test_backoff_is_exponential_capped_and_jittered(attempts, ceiling):
    delays = [rules.next_delay(attempts, rng=random.Random(seed)).total_seconds() for seed in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1


def test_retries_last_at_least_24_hours():
    elapsed, attempts = dt.timedelta(0), 0
    while not rules.gives_up(NOW, NOW + elapsed):
        attempts += 1
        elapsed += rules.next_delay(attempts, rng=random.Random(attempts))
    assert elapsed >= dt.timedelta(hours=24) and attempts >= 15


@pytest.mark.parametrize(
    "address, public",
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("172.16.3.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert rules.is_public_address(address) is public


@pytest.mark.parametrize(
    "url, allow_http, ok",
    [
        ("https://erp.example/hook", False, True),
        ("http://erp.example/hook", False, False),
        ("http://erp.example/hook", True, True),
        ("https://u:p@erp.example/", False, False),
        ("https:///nohost", False, False),
        ("javascript:alert(1)", True, False),
    ],
)
def test_urls(url, allow_http, ok):
    if ok:
        assert rules.validate_url(url, allow_http=allow_http) == url
    else:
        with pytest.raises(InvalidInput):
            rules.validate_url(url, allow_http=allow_http)
