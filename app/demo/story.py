"""Generating one demo customer and telling its life: ``Gen`` draws master data (companies,
contacts, gradings) from a seeded random generator, ``Story`` moves a customer through the
funnel checked by the same rules the API applies, and collects everything into a ``Draft``
that is written later."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from app.db.models import (
    AbandonmentReview,
    Activity,
    Contact,
    Customer,
    CustomerHistory,
    OwnershipEvent,
    StageTransition,
    User,
)
from app.demo import words
from app.demo.org import Org
from app.domain import normalize
from app.domain.funnel import (
    AbandonReason,
    Stage,
    StageFacts,
    TransitionKind,
    TransitionRequest,
    days_in_stage,
    decide_transition,
    is_out_of_funnel_on_create,
    stage_position,
)
from app.domain.ownership import PoolPolicy, cooldown_end
from app.services.customers import completeness_of, created_changes

# ----------------------------------------------------------------------------------------
# Vocabulary (the shared word lists are in app.demo.words; these are the demo's own)
# ----------------------------------------------------------------------------------------


class DemoCity(NamedTuple):
    name: str
    region: str
    division: str  # the administrative division code in the USCC
    pinyin: str
    lat: float
    lng: float
    weight: int


_REGIONS = {name: (region, division) for name, region, division in words.CITIES}
# Where the demo's companies are (around the East China teams): (city, pinyin, lat, lng, weight)
_PLACES: list[tuple[str, str, float, float, int]] = [
    ("上海", "sh", 31.23, 121.47, 12),
    ("杭州", "hz", 30.27, 120.15, 10),
    ("苏州", "sz", 31.30, 120.58, 6),
    ("南京", "nj", 32.06, 118.80, 5),
    ("宁波", "nb", 29.87, 121.54, 4),
    ("无锡", "wx", 31.49, 120.31, 3),
    ("温州", "wz", 28.00, 120.67, 2),
    ("常州", "cz", 31.81, 119.97, 2),
    ("合肥", "hf", 31.82, 117.23, 2),
    ("北京", "bj", 39.90, 116.40, 3),
    ("深圳", "szx", 22.54, 114.06, 3),
    ("广州", "gz", 23.13, 113.26, 2),
    ("成都", "cd", 30.57, 104.07, 1),
    ("武汉", "wh", 30.59, 114.31, 1),
]
CITIES = [
    DemoCity(name, *_REGIONS[name], pinyin, lat, lng, weight) for name, pinyin, lat, lng, weight in _PLACES
]
_LEGAL_FORMS = [("有限公司", 75), ("股份有限公司", 25)]
_CONTACT_NOTES = ["关键决策人", "负责采购审批", "技术评估负责人"]
_BUILDINGS = ["", "", "", "国际大厦", "科技园", "创业中心", "商务中心", "产业园"]
_INTERESTS = ["高尔夫", "茶道", "马拉松", "摄影", "钓鱼", "书法", "羽毛球", "自驾游", "围棋"]
_DEVICES = {
    "rep1": "iPhone15-rep1",
    "rep2": "HUAWEI-Mate60-rep2",
    "rep3": "iPhone14-rep3",
    "rep4": "Xiaomi14-rep4",
}

_ABANDON_NOTES: dict[AbandonReason, list[str]] = {
    AbandonReason.refused: ["客户明确表示今年没有采购计划", "客户认为现有系统够用，拒绝进一步沟通"],
    AbandonReason.unreachable: ["连续三次电话无人接听，邮件无回复", "联系人已离职，总机无法转接"],
    AbandonReason.unsuitable: ["客户规模过小，不符合目标客户画像", "客户需求为定制开发，超出产品范围"],
    AbandonReason.bought_competitor: ["客户已签约竞品，合同期三年", "客户选择了价格更低的本地服务商"],
    AbandonReason.duplicate: ["与已有客户重复，由支持组清理"],
    AbandonReason.other: ["客户公司重组，项目无限期暂停", "客户被集团收购，采购改由总部统一负责"],
}
_ABANDON_WEIGHTS = [
    (AbandonReason.refused, 30),
    (AbandonReason.unreachable, 25),
    (AbandonReason.unsuitable, 15),
    (AbandonReason.bought_competitor, 20),
    (AbandonReason.other, 10),
]
_BACKWARD_REASONS = [
    "客户预算冻结，需要重新确认需求",
    "关键联系人离职，需要重新建立联系",
    "客户决策推迟到下季度",
    "客户对报价有异议，需重新沟通方案",
]
_REVIEW_COMMENTS = {
    "agree": ["同意放弃，冷处理后可重新分配", "判断合理"],
    "disagree": ["客户仍有潜力，冷处理结束后请重新跟进", "放弃前应先安排上门拜访"],
}

_T = TypeVar("_T")

# ----------------------------------------------------------------------------------------
# Generation state and one customer's story
# ----------------------------------------------------------------------------------------


@dataclass
class Draft:
    """Everything seeded for one customer, ready to be written."""

    customer: Customer
    contacts: list[Contact]
    city: DemoCity
    scenario: str
    transitions: list[StageTransition] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    ownership: list[OwnershipEvent] = field(default_factory=list)
    reviews: list[AbandonmentReview] = field(default_factory=list)
    history: list[CustomerHistory] = field(default_factory=list)


@dataclass
class Gen:
    rng: random.Random
    now: dt.datetime
    policy: PoolPolicy
    org: Org
    drafts: list[Draft] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _usccs: set[str] = field(default_factory=set)
    _phones: set[str] = field(default_factory=set)
    _emails: set[str] = field(default_factory=set)

    # --- randomness helpers ---

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def weighted(self, pairs: Sequence[tuple[_T, int]]) -> _T:
        return self.rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]

    def ago(self, days: float) -> dt.datetime:
        return self.now - dt.timedelta(days=days)

    def between(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        """A moment strictly inside (start, end), away from both ends."""
        span = (end - start).total_seconds()
        return start + dt.timedelta(seconds=span * self.rng.uniform(0.1, 0.9))

    def spread(self, start: dt.datetime, end: dt.datetime, count: int) -> list[dt.datetime]:
        """``count`` increasing moments after ``start``, the last one exactly ``end``."""
        if count == 0:
            return []
        inner = sorted(self.rng.uniform(0.05, 0.95) for _ in range(count - 1))
        span = (end - start).total_seconds()
        return [start + dt.timedelta(seconds=span * f) for f in inner] + [end]

    # --- master data ---

    def company(self) -> tuple[str, str, DemoCity, str, str]:
        """(name, name_key, city, industry, domain) of a company not generated before."""
        while True:
            city = self.weighted([(c, c[6]) for c in CITIES])
            stem, stem_py = self.rng.choice(words.STEMS)
            word, industry, domain_word = self.rng.choice(words.INDUSTRIES)
            name = f"{city[0]}{stem}{word}{self.weighted(_LEGAL_FORMS)}"
            key = normalize.dedup_name_key(name)
            if key not in self._names:
                self._names.add(key)
                return name, key, city, industry, f"{stem_py}-{domain_word}-{city[3]}.com"

    def uscc(self, division: str) -> str:
        while True:
            org_code = "".join(self.rng.choice(normalize.USCC_CHARSET) for _ in range(9))
            first17 = f"91{division}{org_code}"
            code = first17 + normalize.uscc_check_char(first17)
            if code not in self._usccs:
                self._usccs.add(code)
                return code

    def mobile(self) -> str:
        while True:
            raw = f"{self.rng.choice(words.MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
            phone = normalize.normalize_phone(raw)
            if phone not in self._phones:
                self._phones.add(phone)
                return phone

    def email(self, local: str, domain: str) -> str:
        candidate, n = local, 1
        while f"{candidate}@{domain}" in self._emails:
            n += 1
            candidate = f"{local}{n}"
        address = normalize.normalize_email(f"{candidate}@{domain}")
        self._emails.add(address)
        return address

    def contacts(self, customer_id: uuid.UUID, domain: str, at: dt.datetime) -> list[Contact]:
        count = self.weighted([(1, 45), (2, 40), (3, 15)])
        titles = self.rng.sample(words.TITLES, count)
        out: list[Contact] = []
        used: set[str] = set()
        for index in range(count):
            while True:
                surname, s_py = self.rng.choice(words.SURNAMES)
                given, g_py = self.rng.choice(words.GIVEN_NAMES)
                if surname + given not in used:
                    used.add(surname + given)
                    break
            phones = [self.mobile()] + ([self.mobile()] if self.rng.random() < 0.15 else [])
            local = self.rng.choice([f"{g_py}.{s_py}", f"{s_py}{g_py}", f"{s_py[0]}{g_py}"])
            out.append(
                Contact(
                    id=self.new_id(),
                    customer_id=customer_id,
                    name=surname + given,
                    title=titles[index],
                    phones=phones,
                    emails=[self.email(local, domain)],
                    wechat=(
                        f"wxid_{s_py}{g_py}{self.rng.randrange(100, 999)}"
                        if self.rng.random() < 0.4
                        else None
                    ),
                    is_primary=index == 0,
                    notes=self.rng.choice(_CONTACT_NOTES) if self.rng.random() < 0.2 else None,
                    created_at=at,
                    updated_at=at,
                )
            )
        return out

    def grading(self) -> dict[str, Any]:
        grade = self.weighted([("A", 20), ("B", 45), ("C", 35)])
        low, high = {"A": (300, 1200), "B": (80, 400), "C": (20, 120)}[grade]
        products = self.rng.sample(words.PRODUCTS, self.weighted([(1, 50), (2, 40), (3, 10)]))
        return {
            "grade": grade,
            "recommended_products": products,
            "target_amount": Decimal(self.rng.randint(low, high) * 1000),
        }

    def customer(
        self, *, source: str, created_by: User, graded: bool, discovered_by: User | None = None
    ) -> tuple[Customer, list[Contact], DemoCity]:
        """A new company (times are set by its story); contacts come with it."""
        name, key, city, industry, domain = self.company()
        building = self.rng.choice(_BUILDINGS)
        address = (
            f"{city[1]}{self.rng.choice(words.ROADS)}{self.rng.randint(1, 999)}号"
            f"{building}{self.rng.randint(2, 28) if building else ''}{'楼' if building else ''}"
        )
        customer = Customer(
            id=self.new_id(),
            name=name,
            name_key=key,
            kind="company",
            uscc=self.uscc(city[2]),
            industry=industry,
            region=city[1],
            size=self.rng.choice(words.SIZES) if self.rng.random() < 0.9 else None,
            address=address if self.rng.random() < 0.85 else None,
            website=f"https://www.{domain}" if self.rng.random() < 0.7 else None,
            source=source,
            created_by=created_by.id,
            discovered_by=discovered_by.id if discovered_by else None,
            tags=self.rng.sample(words.TAGS, self.weighted([(0, 40), (1, 35), (2, 20), (3, 5)])),
            interests=self.rng.sample(_INTERESTS, self.rng.randint(1, 2)) if self.rng.random() < 0.3 else [],
            recommended_products=[],
            version=1,
        )
        if graded:
            for name_, value in self.grading().items():
                setattr(customer, name_, value)
        contacts = self.contacts(customer.id, domain, self.now)
        return customer, contacts, city


class Story:
    """One customer's life in time order: moves are checked by the funnel rules exactly as
    the API would check them, activities and ownership changes are recorded as they happen."""

    def __init__(
        self,
        gen: Gen,
        scenario: str,
        *,
        source: str,
        created_by: User,
        at: dt.datetime,
        graded: bool,
        stage: Stage = Stage.resource,
        owner: User | None = None,
        discovered_by: User | None = None,
    ) -> None:
        self.gen = gen
        customer, contacts, city = gen.customer(
            source=source, created_by=created_by, graded=graded, discovered_by=discovered_by
        )
        customer.created_at = at
        for contact in contacts:
            contact.created_at = contact.updated_at = at
        self.draft = Draft(customer=customer, contacts=contacts, city=city, scenario=scenario)
        self.customer = customer
        self.stage = stage
        self.entered = at
        self.owner = owner
        self.claimed_at: dt.datetime | None = at if owner else None
        self.cooldown_until: dt.datetime | None = None
        self.out_of_funnel = is_out_of_funnel_on_create(stage)
        self.last_move = at
        self.draft.transitions.append(
            StageTransition(
                id=gen.new_id(),
                customer_id=customer.id,
                from_stage=None,
                to_stage=stage.value,
                kind="created",
                at=at,
                actor_id=created_by.id,
                owner_id=owner.id if owner else None,
                team_id=owner.team_id if owner else None,
                skipped=[],
                out_of_funnel=self.out_of_funnel,
            )
        )

    # --- ownership ---

    def _ownership(
        self, event: str, at: dt.datetime, *, to: User | None, actor: User | None, reason: str | None
    ) -> None:
        self.draft.ownership.append(
            OwnershipEvent(
                id=self.gen.new_id(),
                customer_id=self.customer.id,
                event=event,
                from_owner_id=self.owner.id if self.owner else None,
                to_owner_id=to.id if to else None,
                actor_id=actor.id if actor else None,
                reason=reason,
                at=at,
            )
        )

    def claim(
        self,
        at: dt.datetime,
        rep: User,
        *,
        event: str = "claim",
        actor: User | None = None,
        reason: str | None = None,
    ) -> None:
        assert self.owner is None and at > self.last_move
        self._ownership(event, at, to=rep, actor=actor or rep, reason=reason)
        self.owner, self.claimed_at, self.last_move = rep, at, at

    def to_pool(self, at: dt.datetime, *, event: str, actor: User | None, reason: str | None) -> None:
        assert self.owner is not None and at > self.last_move
        self._ownership(event, at, to=None, actor=actor, reason=reason)
        self.owner, self.claimed_at, self.last_move = None, None, at

    # --- activities ---

    def log(
        self, at: dt.datetime, type_: str, actor: User, *, subject: str, outcome: str | None = None
    ) -> Activity:
        gen, rng = self.gen, self.gen.rng
        assert at <= gen.now
        activity = Activity(
            id=gen.new_id(),
            customer_id=self.customer.id,
            contact_id=rng.choice(self.draft.contacts).id,
            type=type_,
            occurred_at=at,
            subject=subject,
            outcome=outcome,
            created_by=actor.id,
            duration_minutes={
                "call": rng.randint(3, 25),
                "visit": rng.randint(40, 120),
                "meeting": rng.randint(45, 90),
            }.get(type_),
            version=1,
        )
        received = at + dt.timedelta(seconds=rng.randint(1, 120))
        if type_ == "visit" or (type_ == "meeting" and rng.random() < 0.5):
            _, _, _, _, lat, lng, _ = self.draft.city
            activity.location_lat = round(lat + rng.uniform(-0.06, 0.06), 6)
            activity.location_lng = round(lng + rng.uniform(-0.06, 0.06), 6)
            activity.location_accuracy_m = round(rng.uniform(5, 60), 1)
            activity.location_address = self.customer.address or self.customer.region
            activity.device_id = _DEVICES.get(actor.username)
            # Logged on the phone, synced when back online.
            received = at + dt.timedelta(minutes=rng.randint(5, 240))
        activity.received_at = activity.created_at = activity.updated_at = min(received, gen.now)
        self.draft.activities.append(activity)
        return activity

    def talk(
        self, at: dt.datetime, actor: User, *, kinds: Sequence[tuple[str, int]] | None = None
    ) -> Activity:
        """A routine follow-up of a random kind."""
        type_ = self.gen.weighted(
            kinds or [("call", 45), ("visit", 20), ("email", 15), ("message", 12), ("meeting", 8)]
        )
        subject, outcome = self.gen.rng.choice(_ACTIVITY_TEXTS[type_])
        return self.log(at, type_, actor, subject=subject, outcome=outcome)

    def activities_by(self, at: dt.datetime) -> int:
        return sum(1 for a in self.draft.activities if a.occurred_at <= at)

    # --- moves ---

    def move(
        self,
        to: Stage,
        at: dt.datetime,
        actor: User,
        *,
        reason: str | None = None,
        note: str | None = None,
        director_override: bool = False,
    ) -> StageTransition:
        assert at > self.last_move, (self.customer.name, to, at, self.last_move)
        c = self.customer
        facts = StageFacts(
            grade=c.grade,
            recommended_products=tuple(c.recommended_products),
            target_amount=c.target_amount,
            activity_count=self.activities_by(at),
            cooldown_until=self.cooldown_until,
        )
        decision = decide_transition(
            TransitionRequest(
                current=self.stage,
                target=to,
                reason=reason,
                note=note,
                now=at,
                director_override=director_override,
            ),
            facts,
        )
        stored = StageTransition(
            id=self.gen.new_id(),
            customer_id=c.id,
            from_stage=self.stage.value,
            to_stage=to.value,
            kind=decision.kind.value,
            at=at,
            actor_id=actor.id,
            reason=None if decision.reason is None else str(decision.reason),
            note=decision.note,
            owner_id=self.owner.id if self.owner else None,
            team_id=self.owner.team_id if self.owner else None,
            days_in_from_stage=days_in_stage(self.entered, now=at),
            skipped=[s.value for s in decision.skipped],
            out_of_funnel=decision.out_of_funnel,
            director_override=False,
        )
        self.draft.transitions.append(stored)
        self.stage, self.entered, self.last_move = to, at, at
        self.out_of_funnel = self.out_of_funnel or decision.out_of_funnel
        if decision.cooldown:
            self.cooldown_until = cooldown_end(at, policy=self.gen.policy)
        if decision.kind is TransitionKind.reactivate:
            self.cooldown_until = None
        if decision.releases_owner and self.owner is not None:
            self._ownership("abandon", at, to=None, actor=actor, reason=stored.reason)
            self.owner, self.claimed_at = None, None
        return stored

    def walk(
        self, path: Sequence[Stage], times: Sequence[dt.datetime], actor: User, start: dt.datetime
    ) -> None:
        """Move along ``path`` at ``times``; an activity precedes the first contact-stage entry
        and (usually) a meeting precedes entering intent, as a real rep's work would."""
        previous = start
        for to, at in zip(path, times, strict=True):
            forward = stage_position(to) > stage_position(self.stage)
            if (
                forward
                and stage_position(to) >= stage_position(Stage.contacted)
                and self.activities_by(at) == 0
            ):
                self.talk(
                    self.gen.between(previous, at), actor, kinds=[("call", 70), ("email", 15), ("visit", 15)]
                )
            if forward and to is Stage.intent and self.gen.rng.random() < 0.7:
                self.talk(self.gen.between(previous, at), actor, kinds=[("meeting", 60), ("visit", 40)])
            reason = None if forward else self.gen.rng.choice(_BACKWARD_REASONS)
            self.move(to, at, actor, reason=reason)
            previous = at

    def abandon(self, at: dt.datetime, actor: User, *, reason: AbandonReason | None = None) -> None:
        reason = reason or self.gen.weighted(_ABANDON_WEIGHTS)
        manager = self.gen.org.manager_of(self.owner) if self.owner is not None else None
        transition = self.move(
            Stage.abandoned, at, actor, reason=reason.value, note=self.gen.rng.choice(_ABANDON_NOTES[reason])
        )
        reviewed_at = at + dt.timedelta(days=self.gen.rng.uniform(0.1, 3))
        if manager is not None and reviewed_at < self.gen.now and self.gen.rng.random() < 0.6:
            verdict = self.gen.weighted([("agree", 80), ("disagree", 20)])
            self.draft.reviews.append(
                AbandonmentReview(
                    id=self.gen.new_id(),
                    transition_id=transition.id,
                    customer_id=self.customer.id,
                    reviewer_id=manager.id,
                    verdict=verdict,
                    at=reviewed_at,
                    comment=self.gen.rng.choice(_REVIEW_COMMENTS[verdict]),
                )
            )

    # --- done ---

    def finish(self) -> Draft:
        """Derive the customer's current state from its story and keep the draft."""
        c, d = self.customer, self.draft
        d.activities.sort(key=lambda a: a.occurred_at)
        c.stage = self.stage.value
        c.stage_entered_at = self.entered
        c.out_of_funnel = self.out_of_funnel
        c.cooldown_until = self.cooldown_until
        c.owner_id = self.owner.id if self.owner else None
        c.team_id = self.owner.team_id if self.owner else None
        c.claimed_at = self.claimed_at
        c.last_contact_at = max((a.occurred_at for a in d.activities), default=None)
        c.updated_at = max(
            [c.created_at, self.last_move, *(a.received_at for a in d.activities), *(r.at for r in d.reviews)]
        )
        c.completeness = completeness_of(c, d.contacts)
        changes = created_changes(c, len(d.contacts))
        changes["note"] = [None, f"demo data: {d.scenario}"]
        d.history.append(
            CustomerHistory(
                id=self.gen.new_id(),
                customer_id=c.id,
                at=c.created_at,
                actor_id=c.created_by,
                action="seed",
                entity="customer",
                entity_id=c.id,
                changes=changes,
            )
        )
        self.gen.drafts.append(d)
        return d


_ACTIVITY_TEXTS: dict[str, list[tuple[str, str | None]]] = {
    "call": [
        ("电话初次沟通，介绍公司和产品", "客户愿意进一步了解"),
        ("电话跟进需求", "确认了使用人数和预算范围"),
        ("电话回访", "未接通，稍后再联系"),
        ("电话确认拜访时间", "约定下周上门"),
        ("电话沟通报价", "客户希望再优惠一些"),
    ],
    "visit": [
        ("上门拜访，现场演示CRM专业版", "客户对移动端很感兴趣"),
        ("拜访客户IT部门", "梳理了现有系统对接需求"),
        ("拜访采购负责人", "了解采购流程和决策链"),
    ],
    "email": [("发送产品资料和案例", None), ("发送报价单", None), ("发送实施方案初稿", None)],
    "message": [("微信沟通试用账号", "已开通试用"), ("微信跟进资料反馈", "客户已转发给技术总监")],
    "meeting": [
        ("方案沟通会", "客户提出数据迁移和权限方面的顾虑"),
        ("商务洽谈", "讨论付款方式和实施周期"),
        ("需求调研会", "确认了销售团队规模和流程"),
    ],
}
