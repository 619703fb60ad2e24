"""Customer vocabulary shared by every layer: where a customer came from."""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """How a customer came to us (SPEC §3); `self_discovered` credits the rep who found it."""

    web = "web"
    exhibition = "exhibition"
    referral = "referral"
    self_discovered = "self_discovered"
    import_ = "import"
    inbound_call = "inbound_call"
    other = "other"


__all__ = ["Source"]
