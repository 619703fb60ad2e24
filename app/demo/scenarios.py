"""Scenarios: who the demo customers are and how they got where they are. Each ``plan_*``
tells stories (see ``app.demo.story``); ``plan_customers`` plans all of them in an order
where referrers come before those they referred."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import TypeVar

from app.db.models import User
from app.demo.story import Draft, Gen, Story
from app.domain.funnel import FUNNEL_ORDER, AbandonReason, Stage, next_stage, stage_position

_T = TypeVar("_T")

POOL_SOURCES = [("import", 55), ("web", 15), ("exhibition", 14), ("inbound_call", 8), ("other", 8)]
# Share of a rep's active customers per stage (resource…intent), close to the ideal funnel.
_OWNED_MIX = [
    (Stage.resource, 8),
    (Stage.graded, 22),
    (Stage.contacted, 32),
    (Stage.lead, 22),
    (Stage.intent, 16),
]
# Reps' active customers relative to the holding limit: one full, one near it, two with room.
_REP_LOAD = {"rep1": -2, "rep2": 0, "rep3": -9, "rep4": -18}
WINDOW_DAYS = 118  # histories are backdated over the last ~120 days


def _quota(total: int, mix: Sequence[tuple[_T, int]]) -> list[_T]:
    """``total`` items split by weight (largest remainder), so every share appears."""
    weight = sum(w for _, w in mix)
    exact = [(item, total * w / weight) for item, w in mix]
    counts = {item: int(x) for item, x in exact}
    by_remainder = sorted(exact, key=lambda e: e[1] - int(e[1]), reverse=True)
    for item, _ in by_remainder[: total - sum(counts.values())]:
        counts[item] += 1
    return [item for item, _ in mix for _ in range(counts[item])]


def _path_to(gen: Gen, stage: Stage, *, start: Stage = Stage.resource, variants: bool = True) -> list[Stage]:
    """The stages a customer passes from ``start`` to ``stage``: normally every one in order;
    sometimes skipping one (out of funnel) or stepping back once with a reason."""
    path = list(FUNNEL_ORDER[stage_position(start) + 1 : stage_position(stage) + 1])
    roll = gen.rng.random()
    skippable = [s for s in path[:-1] if s in (Stage.contacted, Stage.lead)]
    bounceable = [i for i, s in enumerate(path) if s in (Stage.graded, Stage.contacted, Stage.lead)]
    if variants and roll < 0.12 and skippable:
        path.remove(gen.rng.choice(skippable))
    elif variants and roll < 0.20 and bounceable:
        i = gen.rng.choice(bounceable)
        ahead = next_stage(path[i])
        assert ahead is not None
        path[i + 1 : i + 1] = [ahead, path[i]]
    return path


def _plan_pool_fresh(gen: Gen) -> None:
    """Imported or inbound prospects nobody has touched yet."""
    support = gen.org.support
    Story(
        gen,
        "pool",
        source=gen.weighted(POOL_SOURCES),
        created_by=support,
        at=gen.ago(gen.rng.uniform(0.2, WINDOW_DAYS)),
        graded=False,
    ).finish()


def _plan_pool_graded(gen: Gen) -> None:
    """Support verified and graded them in the pool (the best resources for allocation)."""
    support = gen.org.support
    created = gen.ago(gen.rng.uniform(2, WINDOW_DAYS))
    story = Story(
        gen, "pool graded", source=gen.weighted(POOL_SOURCES), created_by=support, at=created, graded=True
    )
    story.move(Stage.graded, gen.between(created, min(created + dt.timedelta(days=6), gen.now)), support)
    story.finish()


def _plan_pool_released(gen: Gen) -> None:
    """A rep claimed it, found no need and released it back to the pool."""
    rep = gen.rng.choice(gen.org.reps)
    created = gen.ago(gen.rng.uniform(10, WINDOW_DAYS))
    story = Story(
        gen,
        "pool released",
        source=gen.weighted(POOL_SOURCES),
        created_by=gen.org.support,
        at=created,
        graded=False,
    )
    claimed = gen.between(created, min(created + dt.timedelta(days=20), gen.ago(5)))
    story.claim(claimed, rep)
    released = claimed + dt.timedelta(days=gen.rng.uniform(0.5, 4))
    story.talk(gen.between(claimed, released), rep, kinds=[("call", 100)])
    story.to_pool(
        released,
        event="release",
        actor=rep,
        reason=gen.rng.choice(["客户暂无需求", "非目标行业", "已有合作伙伴"]),
    )
    story.finish()


def _plan_pool_recycled(gen: Gen) -> None:
    """Contact lapsed for longer than the protection period: the sweep took it back."""
    rep = gen.rng.choice(gen.org.reps)
    protection = gen.policy.protection_days
    last_contact = gen.ago(gen.rng.uniform(protection + 3, 45))
    stage = gen.weighted([(Stage.graded, 30), (Stage.contacted, 50), (Stage.lead, 20)])
    path = _path_to(gen, stage, variants=False)
    claimed = last_contact - dt.timedelta(days=gen.rng.uniform(3, 20))
    created = claimed - dt.timedelta(days=gen.rng.uniform(0.5, 20))
    story = Story(
        gen,
        "pool recycled",
        source=gen.weighted(POOL_SOURCES),
        created_by=gen.org.support,
        at=created,
        graded=True,
    )
    story.claim(claimed, rep)
    entered = gen.between(claimed, last_contact)
    story.walk(path, gen.spread(claimed, entered, len(path)), rep, claimed)
    story.talk(last_contact, rep)
    story.to_pool(
        last_contact + dt.timedelta(days=protection, minutes=gen.rng.randint(1, 300)),
        event="recycle",
        actor=None,
        reason="protection_expired",
    )
    story.finish()


def _plan_abandoned(gen: Gen, *, cooled: bool, reactivate: bool = False) -> None:
    """A rep worked it and gave up with a reason; it waits in the pool in cooldown (or its
    cooldown is over, or it was reactivated after the cooldown)."""
    rng, cooldown = gen.rng, gen.policy.cooldown_days
    rep = rng.choice(gen.org.reps)
    if reactivate:
        age = cooldown + rng.uniform(8, 22)
    elif cooled:
        age = cooldown + rng.uniform(1, 18)
    else:
        age = rng.uniform(1, max(min(85, cooldown - 1), 1.5))
    abandoned_at = gen.ago(age)
    available = max(WINDOW_DAYS, age + 6) - age
    before = gen.weighted(
        [
            (Stage.resource, 10),
            (Stage.graded, 25),
            (Stage.contacted, 35),
            (Stage.lead, 20),
            (Stage.intent, 10),
        ]
    )
    path = _path_to(gen, before)
    span = min(rng.uniform(3, 8) + 4 * len(path), available * 0.7)
    claimed = abandoned_at - dt.timedelta(days=span)
    created = claimed - dt.timedelta(days=rng.uniform(0.2, available - span))
    story = Story(
        gen,
        "abandoned",
        source=gen.weighted(POOL_SOURCES),
        created_by=gen.org.support,
        at=created,
        graded=before is not Stage.resource,
    )
    story.claim(claimed, rep)
    last_move = claimed + dt.timedelta(days=span * rng.uniform(0.5, 0.8))
    story.walk(path, gen.spread(claimed, last_move, len(path)), rep, claimed)
    for _ in range(rng.randint(0, 2) + (1 if before is not Stage.resource else 0)):
        story.talk(gen.between(last_move, abandoned_at), rep)
    story.abandon(abandoned_at, rep)
    if reactivate:
        assert story.cooldown_until is not None
        at = story.cooldown_until + dt.timedelta(days=rng.uniform(0.5, 5))
        who = rng.choice([gen.org.support, gen.org.manager_of(rep)])
        story.move(Stage.resource, at, who)
        story.draft.scenario = "reactivated"
    story.finish()


def _plan_abandoned_by_support(gen: Gen) -> None:
    """Support cleaned the pool: a duplicate or unsuitable record, abandoned in cooldown."""
    support = gen.org.support
    abandoned_at = gen.ago(gen.rng.uniform(1, max(min(60, gen.policy.cooldown_days - 1), 1.5)))
    story = Story(
        gen,
        "abandoned",
        source="import",
        created_by=support,
        at=abandoned_at - dt.timedelta(days=gen.rng.uniform(0.5, 20)),
        graded=False,
    )
    story.abandon(
        abandoned_at, support, reason=gen.rng.choice([AbandonReason.duplicate, AbandonReason.unsuitable])
    )
    story.finish()


def _plan_owned(gen: Gen, rep: User, stage: Stage, *, lapsing: bool) -> None:
    """A rep's active customer: claimed, assigned or self-discovered, moved along the funnel,
    contact kept within the protection period (some about to lapse), follow-ups planned."""
    rng = gen.rng
    protection = gen.policy.protection_days
    anchor_age = (
        rng.uniform(protection - 1.9, protection - 0.2)
        if lapsing
        else rng.uniform(0.05, max(protection - 2.2, 0.3))
    )
    anchor = gen.ago(anchor_age)  # the last contact (or the claim, for customers not contacted yet)
    direct = stage in (Stage.lead, Stage.intent) and rng.random() < 0.12
    mode = "direct" if direct else gen.weighted([("claim", 62), ("assign", 20), ("self", 18)])
    path = [] if direct else _path_to(gen, stage)
    talks = (
        direct
        or stage_position(stage) >= stage_position(Stage.contacted)
        or (stage is Stage.graded and rng.random() < 0.5)
    )
    if talks:
        span = min(rng.uniform(2, 10) + 5 * len(path), 90.0)
        claimed = anchor - dt.timedelta(days=span)
        entered = anchor - dt.timedelta(days=rng.uniform(0, min(span * 0.5, 14)))
    else:
        claimed = anchor
        entered = anchor + dt.timedelta(days=anchor_age * rng.uniform(0.1, 0.9))
    room = max(WINDOW_DAYS - (gen.now - claimed).total_seconds() / 86_400, 0.5)
    if mode in ("claim", "assign"):
        created = claimed - dt.timedelta(days=rng.uniform(0.1, min(room, 40)))
        story = Story(
            gen,
            "owned",
            source=gen.weighted(POOL_SOURCES),
            created_by=gen.org.support,
            at=created,
            graded=bool(path),
        )
        if mode == "claim":
            story.claim(claimed, rep)
        else:
            manager = gen.org.manager_of(rep)
            story.claim(
                claimed,
                rep,
                event="assign",
                actor=manager,
                reason=rng.choice(["组内分配", "胖子原则：优先分配给业绩靠前的销售"]),
            )
    elif mode == "self":
        story = Story(
            gen,
            "owned",
            source="self_discovered",
            created_by=rep,
            at=claimed,
            graded=bool(path),
            owner=rep,
            discovered_by=rep,
        )
    else:
        story = Story(
            gen,
            "owned, created beyond graded",
            source=rng.choice(["referral", "inbound_call"]),
            created_by=rep,
            at=claimed,
            graded=True,
            stage=stage,
            owner=rep,
            discovered_by=rep,
        )
        referrers = [d.customer for d in gen.drafts if d.customer.created_at < claimed]
        if story.customer.source == "referral" and referrers:
            story.customer.referred_by = rng.choice(referrers).id
        story.talk(claimed, rep, kinds=[("call", 60), ("visit", 40)])
    story.walk(path, gen.spread(claimed, entered, len(path)), rep, claimed)
    if talks:
        for _ in range(rng.randint(0, 3)):
            story.talk(gen.between(claimed, anchor), rep)
        last = story.talk(anchor, rep)
        earlier = sorted(story.draft.activities, key=lambda a: a.occurred_at)
        for activity, following in itertools.pairwise(earlier):
            if rng.random() < 0.6:  # the next contact had been planned at the previous one
                activity.next_follow_up_at = following.occurred_at
        roll = rng.random()
        if roll < 0.3 and anchor_age > 0.3:  # planned, and now overdue
            last.next_follow_up_at = anchor + dt.timedelta(days=rng.uniform(0.1, anchor_age - 0.05))
        elif roll < 0.8:
            last.next_follow_up_at = gen.now + dt.timedelta(days=rng.uniform(0.5, 10))
        else:
            last.next_follow_up_at = None
    story.finish()


def plan_customers(gen: Gen) -> list[Draft]:
    """Every demo customer, in an order where referrers come before those they referred."""
    for _ in range(140):
        _plan_pool_fresh(gen)
    for _ in range(18):
        _plan_pool_graded(gen)
    for _ in range(8):
        _plan_pool_released(gen)
    for _ in range(8):
        _plan_pool_recycled(gen)
    limit = gen.policy.max_active_customers
    for rep in gen.org.reps:
        stages = _quota(max(limit + _REP_LOAD[rep.username], 0), _OWNED_MIX)
        gen.rng.shuffle(stages)
        for index, stage in enumerate(stages):
            _plan_owned(gen, rep, stage, lapsing=index % 7 == 3)
    for _ in range(20):
        _plan_abandoned(gen, cooled=False)
    for _ in range(3):
        _plan_abandoned_by_support(gen)
    for _ in range(10):
        _plan_abandoned(gen, cooled=True)
    for _ in range(3):
        _plan_abandoned(gen, cooled=True, reactivate=True)
    return gen.drafts
