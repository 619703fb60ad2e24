"""The sliding window behind the contact-search limit."""

from app.domain.ratelimit import SlidingWindow


def test_limit_per_key_and_the_wait_until_the_oldest_event_leaves() -> None:
    window = SlidingWindow(limit=3, window=60)
    assert [window.hit("a", now=t) for t in (0, 10, 20)] == [None, None, None]
    assert window.hit("a", now=30) == 30  # the event at 0 leaves at 60
    assert window.hit("b", now=30) is None
    assert window.hit("a", now=59.5) == 1
    assert window.hit("a", now=60) is None  # 0 has left; 10, 20 and 60 are in the window
    assert window.hit("a", now=61) == 9


def test_refused_attempts_do_not_extend_the_wait() -> None:
    window = SlidingWindow(limit=1, window=10)
    assert window.hit("a", now=0) is None
    for t in range(1, 10):
        assert window.hit("a", now=t) == 10 - t
    assert window.hit("a", now=10) is None
