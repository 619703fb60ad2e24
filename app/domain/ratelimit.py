"""A sliding-window counter: at most ``limit`` events per ``window`` seconds per key."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable


class SlidingWindow:
    def __init__(self, *, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[Hashable, deque[float]] = {}

    def hit(self, key: Hashable, *, now: float) -> int | None:
        """Count an event at ``now``; answer ``None`` if allowed, else the whole seconds to
        wait before the next one is (the refused event is not counted)."""
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(1, math.ceil(events[0] + self.window - now))
        events.append(now)
        if len(self._events) > 10_000:  # forget idle keys so memory stays bounded
            for idle in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
                del self._events[idle]
        return None


__all__ = ["SlidingWindow"]
