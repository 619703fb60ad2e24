"""Set-up tasks the ``crm`` command runs: first users and the demo organisation and data.

``crm seed-demo`` builds a demo organisation (teams, managers, four reps, support, finance)
and a few hundred realistic customers spread over the whole funnel, each with contacts,
a transition history that replays to its stage, activities consistent with that history,
ownership events and an audit entry. Everything is generated deterministically from
``random.Random(DEMO_SEED)`` relative to "now", planned in memory first (each customer's
life is told by a ``_Story`` whose every move is checked by the funnel rules), then
written in one transaction with a handful of flushes.

To extend the demo (contracts, receivables...): add a ``_plan_*`` scenario that tells
more stories (``_Story.move`` checks the same rules the API does) and a ``_seed_*``
writer called from ``seed_demo_with``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from app.config import get_settings
from app.db.base import utcnow
from app.db.engine import make_engine, make_session_factory
from app.db.models import (
    AbandonmentReview,
    Activity,
    Contact,
    Customer,
    CustomerHistory,
    OwnershipEvent,
    StageTransition,
    Team,
    User,
)
from app.db.uow import UnitOfWork
from app.domain import normalize
from app.domain.funnel import (
    ACTIVE_STAGES,
    FUNNEL_ORDER,
    AbandonReason,
    Stage,
    StageFacts,
    TransitionKind,
    TransitionRequest,
    days_in_stage,
    decide_transition,
    is_out_of_funnel_on_create,
    next_stage,
    stage_position,
)
from app.domain.ownership import PoolPolicy, cooldown_end, lapses_within, protection_deadline
from app.domain.roles import Principal, Role
from app.services import settings as settings_service
from app.services import users as users_service
from app.services.common import jsonable
from app.services.customers import completeness_of, created_changes

DEMO_PASSWORD = "demo-pass-2026"
DEMO_SEED = 2026

SYSTEM = Principal(user_id=uuid.UUID(int=0), role=Role.admin, team_id=None)


@dataclass
class SeedResult:
    password: str
    users: list[tuple[str, str]]
    summary: list[str] = field(default_factory=list)


async def create_user(*, username: str, password: str, role: str, team_id: uuid.UUID | None,
                      full_name: str) -> User:
    engine = make_engine(get_settings().database_url)
    try:
        return await users_service.create_user(
            UnitOfWork(make_session_factory(engine)), SYSTEM, username=username,
            password=password, role=Role(role), team_id=team_id, full_name=full_name,
        )
    finally:
        await engine.dispose()


async def seed_demo(*, if_empty: bool = False) -> SeedResult | None:
    engine = make_engine(get_settings().database_url)
    try:
        return await seed_demo_with(UnitOfWork(make_session_factory(engine)), if_empty=if_empty)
    finally:
        await engine.dispose()


async def seed_demo_with(uow: UnitOfWork, *, if_empty: bool,
                         now: dt.datetime | None = None) -> SeedResult | None:
    """Seed the demo organisation and customers in one transaction (nothing if ``if_empty``
    and users exist). ``now`` anchors every generated time (default: the current time)."""
    from app.services import security

    now = now or utcnow()
    password_hash = security.hash_password(DEMO_PASSWORD)
    async with uow:
        if if_empty and await uow.users.any_exists():
            return None
        org = await _seed_org(uow, password_hash)
        policy = await settings_service.pool_policy_in(uow)
        gen = _Gen(rng=random.Random(DEMO_SEED), now=now, policy=policy, org=org)  # noqa: S311
        drafts = _plan_customers(gen)
        await _seed_customers(uow, drafts)
        await _seed_contacts(uow, drafts)
        await _seed_history(uow, drafts)
        await _seed_activities(uow, drafts)
        await uow.commit()
    trading = await _seed_trading(uow, org, [d.customer for d in drafts], now=now)
    async with uow:
        # Signing moved some customers on; summarise what the database now holds.
        for draft in drafts:
            stored = await uow.customers.get_unscoped(draft.customer.id)
            if stored is not None:
                draft.customer.stage = stored.stage
    return SeedResult(password=DEMO_PASSWORD, users=[(u, r.value) for u, r, _, _ in _PEOPLE],
                      summary=[*_summary(gen, drafts), trading])


# ----------------------------------------------------------------------------------------
# The organisation
# ----------------------------------------------------------------------------------------

_PEOPLE: list[tuple[str, Role, str | None, str]] = [
    ("admin", Role.admin, None, "系统管理员 Admin"),
    ("director", Role.director, "region", "王总监 Director Wang"),
    ("manager1", Role.manager, "east", "李经理 Manager Li"),
    ("manager2", Role.manager, "west", "赵经理 Manager Zhao"),
    ("rep1", Role.rep, "east", "张伟 Zhang Wei"),
    ("rep2", Role.rep, "east", "刘洋 Liu Yang"),
    ("rep3", Role.rep, "west", "陈静 Chen Jing"),
    ("rep4", Role.rep, "west", "杨帆 Yang Fan"),
    ("support", Role.support, None, "支持组 Support"),
    ("finance", Role.finance, None, "财务 Finance"),
]
REP_NAMES = ("rep1", "rep2", "rep3", "rep4")


@dataclass
class _Org:
    teams: dict[str, Team]
    users: dict[str, User]

    @property
    def reps(self) -> list[User]:
        return [self.users[name] for name in REP_NAMES]

    @property
    def support(self) -> User:
        return self.users["support"]

    def manager_of(self, rep: User) -> User:
        return self.users["manager1" if rep.team_id == self.teams["east"].id else "manager2"]


async def _seed_org(uow: UnitOfWork, password_hash: str) -> _Org:
    region_id, east_id, west_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    teams = {
        "region": Team(id=region_id, name="华东大区 East China", path=f"/{region_id}/"),
        "east": Team(id=east_id, name="上海一组 Shanghai Group", parent_id=region_id,
                     path=f"/{region_id}/{east_id}/"),
        "west": Team(id=west_id, name="杭州二组 Hangzhou Group", parent_id=region_id,
                     path=f"/{region_id}/{west_id}/"),
    }
    for team in teams.values():
        uow.teams.add(team)
    await uow.flush()
    users: dict[str, User] = {}
    for username, role, team_key, full_name in _PEOPLE:
        user = User(id=uuid.uuid4(), username=username, role=role.value,
                    team_id=teams[team_key].id if team_key else None, full_name=full_name,
                    password_hash=password_hash, email=f"{username}@demo.example")
        uow.users.add(user)
        users[username] = user
    await uow.flush()
    teams["region"].manager_id = users["director"].id
    teams["east"].manager_id = users["manager1"].id
    teams["west"].manager_id = users["manager2"].id
    return _Org(teams=teams, users=users)


# ----------------------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return text.split()


# (city in the name, region field, division code for the USCC, pinyin, lat, lng, weight)
_City = tuple[str, str, str, str, float, float, int]
_CITIES: list[_City] = [
    ("上海", "上海市", "310115", "sh", 31.23, 121.47, 12),
    ("杭州", "浙江省杭州市", "330106", "hz", 30.27, 120.15, 10),
    ("苏州", "江苏省苏州市", "320505", "sz", 31.30, 120.58, 6),
    ("南京", "江苏省南京市", "320106", "nj", 32.06, 118.80, 5),
    ("宁波", "浙江省宁波市", "330212", "nb", 29.87, 121.54, 4),
    ("无锡", "江苏省无锡市", "320214", "wx", 31.49, 120.31, 3),
    ("嘉兴", "浙江省嘉兴市", "330402", "jx", 30.75, 120.76, 2),
    ("绍兴", "浙江省绍兴市", "330602", "sx", 30.00, 120.58, 2),
    ("温州", "浙江省温州市", "330302", "wz", 28.00, 120.67, 2),
    ("常州", "江苏省常州市", "320411", "cz", 31.81, 119.97, 2),
    ("合肥", "安徽省合肥市", "340104", "hf", 31.82, 117.23, 2),
    ("北京", "北京市", "110105", "bj", 39.90, 116.40, 3),
    ("深圳", "广东省深圳市", "440305", "szx", 22.54, 114.06, 3),
    ("广州", "广东省广州市", "440106", "gz", 23.13, 113.26, 2),
    ("成都", "四川省成都市", "510107", "cd", 30.57, 104.07, 1),
    ("武汉", "湖北省武汉市", "420106", "wh", 30.59, 114.31, 1),
]
_STEMS: list[tuple[str, str]] = [(w[:2], w[2:]) for w in _words("""
星辰xingchen 华泰huatai 远航yuanhang 中科zhongke 金鼎jinding 博远boyuan 恒通hengtong
瑞丰ruifeng 鼎盛dingsheng 宏达hongda 天合tianhe 汇通huitong 嘉禾jiahe 新元xinyuan
华信huaxin 东方dongfang 联创lianchuang 智联zhilian 安泰antai 永信yongxin 明德mingde
正和zhenghe 宏图hongtu 海纳haina 蓝天lantian 青云qingyun 振华zhenhua 锦程jincheng
盛世shengshi 百川baichuan 卓越zhuoyue 同创tongchuang 华瑞huarui 凯达kaida 致远zhiyuan
德信dexin 富源fuyuan 光华guanghua 万邦wanbang 信诚xincheng 天成tiancheng 润泽runze
君安junan 荣盛rongsheng 立德lide 腾飞tengfei 银河yinhe 金桥jinqiao 思源siyuan
齐心qixin 启明qiming 方圆fangyuan 精工jinggong 泰和taihe 晨光chenguang 九州jiuzhou
星河xinghe 协力xieli 弘毅hongyi 鸿运hongyun 天宇tianyu 华源huayuan 普惠puhui
绿源lvyuan 融信rongxin 远景yuanjing 瀚海hanhai 凌云lingyun 聚力juli 朗润langrun
""")]
# (word in the name, industry field, domain word)
_INDUSTRIES: list[tuple[str, str, str]] = [
    ("科技", "信息技术", "tech"), ("软件", "信息技术", "soft"), ("网络", "互联网", "net"),
    ("电子", "电子制造", "elec"), ("机械", "装备制造", "mach"), ("智能制造", "装备制造", "mfg"),
    ("贸易", "批发零售", "trade"), ("物流", "交通物流", "logistics"), ("医药", "医药健康", "pharma"),
    ("生物科技", "医药健康", "bio"), ("食品", "食品饮料", "food"), ("建材", "建筑建材", "bm"),
    ("化工", "化工材料", "chem"), ("新能源", "新能源", "energy"), ("环保", "节能环保", "eco"),
    ("汽车零部件", "汽车", "auto"), ("纺织", "纺织服装", "textile"), ("教育科技", "教育培训", "edu"),
    ("管理咨询", "商务服务", "consult"), ("文化传媒", "文化传媒", "media"), ("家居", "家居建材", "home"),
]
_LEGAL_FORMS = [("有限公司", 75), ("股份有限公司", 25)]
_SURNAMES = [(w[0], w[1:]) for w in _words("""
王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou 徐xu 孙sun 马ma 朱zhu
胡hu 郭guo 何he 林lin 高gao 罗luo 郑zheng 梁liang 谢xie 宋song 唐tang 许xu 韩han 冯feng
邓deng 曹cao 彭peng 曾zeng 肖xiao 田tian 董dong 潘pan 袁yuan 蔡cai 蒋jiang 余yu 叶ye 程cheng
""")]
_GIVEN_NAMES = [tuple(w.split(":")) for w in _words("""
伟:wei 芳:fang 娜:na 敏:min 静:jing 丽:li 强:qiang 磊:lei 军:jun 洋:yang 勇:yong 艳:yan
杰:jie 涛:tao 明:ming 超:chao 霞:xia 平:ping 刚:gang 建华:jianhua 志强:zhiqiang 海燕:haiyan
晓东:xiaodong 浩然:haoran 欣怡:xinyi 一鸣:yiming 思远:siyuan 佳琪:jiaqi 文博:wenbo
俊杰:junjie 婷婷:tingting 鹏:peng 辉:hui 斌:bin 玲:ling 波:bo
""")]
_CONTACT_NOTES = ["关键决策人", "负责采购审批", "技术评估负责人"]
_TITLES = ["总经理", "副总经理", "采购经理", "财务总监", "技术总监", "IT经理", "销售总监",
           "行政主管", "运营总监", "项目经理", "采购专员", "董事长"]
_ROADS = ["人民路", "中山路", "解放路", "建设路", "科技路", "创业路", "学院路", "滨江大道",
          "长江路", "新华路", "工业园路", "高新大道", "世纪大道", "文三路", "金科路"]
_BUILDINGS = ["", "", "", "国际大厦", "科技园", "创业中心", "商务中心", "产业园"]
_TAGS = ["重点客户", "展会2026", "老客户转介绍", "政府采购", "高潜力", "价格敏感", "决策链长",
         "需要演示", "海外业务", "上市公司"]
_INTERESTS = ["高尔夫", "茶道", "马拉松", "摄影", "钓鱼", "书法", "羽毛球", "自驾游", "围棋"]
_PRODUCTS = ["CRM标准版", "CRM专业版", "数据服务", "实施服务", "培训服务"]
_SIZES = ["1-49", "50-199", "200-999", "1000+"]
_POOL_SOURCES = [("import", 55), ("web", 15), ("exhibition", 14), ("inbound_call", 8), ("other", 8)]
_MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                    "152", "155", "156", "157", "158", "159", "166", "176", "177", "180", "181",
                    "182", "183", "185", "186", "187", "188", "189", "191", "198", "199"]
_DEVICES = {"rep1": "iPhone15-rep1", "rep2": "HUAWEI-Mate60-rep2", "rep3": "iPhone14-rep3",
            "rep4": "Xiaomi14-rep4"}

_ABANDON_NOTES: dict[AbandonReason, list[str]] = {
    AbandonReason.refused: ["客户明确表示今年没有采购计划", "客户认为现有系统够用，拒绝进一步沟通"],
    AbandonReason.unreachable: ["连续三次电话无人接听，邮件无回复", "联系人已离职，总机无法转接"],
    AbandonReason.unsuitable: ["客户规模过小，不符合目标客户画像", "客户需求为定制开发，超出产品范围"],
    AbandonReason.bought_competitor: ["客户已签约竞品，合同期三年", "客户选择了价格更低的本地服务商"],
    AbandonReason.duplicate: ["与已有客户重复，由支持组清理"],
    AbandonReason.other: ["客户公司重组，项目无限期暂停", "客户被集团收购，采购改由总部统一负责"],
}
_ABANDON_WEIGHTS = [(AbandonReason.refused, 30), (AbandonReason.unreachable, 25),
                    (AbandonReason.unsuitable, 15), (AbandonReason.bought_competitor, 20),
                    (AbandonReason.other, 10)]
_BACKWARD_REASONS = ["客户预算冻结，需要重新确认需求", "关键联系人离职，需要重新建立联系",
                     "客户决策推迟到下季度", "客户对报价有异议，需重新沟通方案"]
_REVIEW_COMMENTS = {"agree": ["同意放弃，冷处理后可重新分配", "判断合理"],
                    "disagree": ["客户仍有潜力，冷处理结束后请重新跟进", "放弃前应先安排上门拜访"]}

_T = TypeVar("_T")


# ----------------------------------------------------------------------------------------
# Generation state and one customer's story
# ----------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """Everything seeded for one customer, ready to be written."""

    customer: Customer
    contacts: list[Contact]
    city: _City
    scenario: str
    transitions: list[StageTransition] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    ownership: list[OwnershipEvent] = field(default_factory=list)
    reviews: list[AbandonmentReview] = field(default_factory=list)
    history: list[CustomerHistory] = field(default_factory=list)


@dataclass
class _Gen:
    rng: random.Random
    now: dt.datetime
    policy: PoolPolicy
    org: _Org
    drafts: list[_Draft] = field(default_factory=list)
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

    def company(self) -> tuple[str, str, _City, str, str]:
        """(name, name_key, city, industry, domain) of a company not generated before."""
        while True:
            city = self.weighted([(c, c[6]) for c in _CITIES])
            stem, stem_py = self.rng.choice(_STEMS)
            word, industry, domain_word = self.rng.choice(_INDUSTRIES)
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
            raw = f"{self.rng.choice(_MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
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
        titles = self.rng.sample(_TITLES, count)
        out: list[Contact] = []
        used: set[str] = set()
        for index in range(count):
            while True:
                surname, s_py = self.rng.choice(_SURNAMES)
                given, g_py = self.rng.choice(_GIVEN_NAMES)
                if surname + given not in used:
                    used.add(surname + given)
                    break
            phones = [self.mobile()] + ([self.mobile()] if self.rng.random() < 0.15 else [])
            local = self.rng.choice([f"{g_py}.{s_py}", f"{s_py}{g_py}", f"{s_py[0]}{g_py}"])
            out.append(Contact(
                id=self.new_id(), customer_id=customer_id, name=surname + given, title=titles[index],
                phones=phones, emails=[self.email(local, domain)],
                wechat=(f"wxid_{s_py}{g_py}{self.rng.randrange(100, 999)}"
                        if self.rng.random() < 0.4 else None),
                is_primary=index == 0,
                notes=self.rng.choice(_CONTACT_NOTES) if self.rng.random() < 0.2 else None,
                created_at=at, updated_at=at))
        return out

    def grading(self) -> dict[str, Any]:
        grade = self.weighted([("A", 20), ("B", 45), ("C", 35)])
        low, high = {"A": (300, 1200), "B": (80, 400), "C": (20, 120)}[grade]
        products = self.rng.sample(_PRODUCTS, self.weighted([(1, 50), (2, 40), (3, 10)]))
        return {"grade": grade, "recommended_products": products,
                "target_amount": Decimal(self.rng.randint(low, high) * 1000)}

    def customer(self, *, source: str, created_by: User, graded: bool,
                 discovered_by: User | None = None) -> tuple[Customer, list[Contact], _City]:
        """A new company (times are set by its story); contacts come with it."""
        name, key, city, industry, domain = self.company()
        building = self.rng.choice(_BUILDINGS)
        address = (f"{city[1]}{self.rng.choice(_ROADS)}{self.rng.randint(1, 999)}号"
                   f"{building}{self.rng.randint(2, 28) if building else ''}{'楼' if building else ''}")
        customer = Customer(
            id=self.new_id(), name=name, name_key=key, kind="company", uscc=self.uscc(city[2]),
            industry=industry, region=city[1],
            size=self.rng.choice(_SIZES) if self.rng.random() < 0.9 else None,
            address=address if self.rng.random() < 0.85 else None,
            website=f"https://www.{domain}" if self.rng.random() < 0.7 else None,
            source=source, created_by=created_by.id,
            discovered_by=discovered_by.id if discovered_by else None,
            tags=self.rng.sample(_TAGS, self.weighted([(0, 40), (1, 35), (2, 20), (3, 5)])),
            interests=self.rng.sample(_INTERESTS, self.rng.randint(1, 2)) if self.rng.random() < 0.3 else [],
            recommended_products=[], version=1,
        )
        if graded:
            for name_, value in self.grading().items():
                setattr(customer, name_, value)
        contacts = self.contacts(customer.id, domain, self.now)
        return customer, contacts, city


class _Story:
    """One customer's life in time order: moves are checked by the funnel rules exactly as
    the API would check them, activities and ownership changes are recorded as they happen."""

    def __init__(self, gen: _Gen, scenario: str, *, source: str, created_by: User, at: dt.datetime,
                 graded: bool, stage: Stage = Stage.resource, owner: User | None = None,
                 discovered_by: User | None = None) -> None:
        self.gen = gen
        customer, contacts, city = gen.customer(source=source, created_by=created_by, graded=graded,
                                                discovered_by=discovered_by)
        customer.created_at = at
        for contact in contacts:
            contact.created_at = contact.updated_at = at
        self.draft = _Draft(customer=customer, contacts=contacts, city=city, scenario=scenario)
        self.customer = customer
        self.stage = stage
        self.entered = at
        self.owner = owner
        self.claimed_at: dt.datetime | None = at if owner else None
        self.cooldown_until: dt.datetime | None = None
        self.out_of_funnel = is_out_of_funnel_on_create(stage)
        self.last_move = at
        self.draft.transitions.append(StageTransition(
            id=gen.new_id(), customer_id=customer.id, from_stage=None, to_stage=stage.value,
            kind="created", at=at, actor_id=created_by.id, owner_id=owner.id if owner else None,
            team_id=owner.team_id if owner else None, skipped=[], out_of_funnel=self.out_of_funnel))

    # --- ownership ---

    def _ownership(self, event: str, at: dt.datetime, *, to: User | None, actor: User | None,
                   reason: str | None) -> None:
        self.draft.ownership.append(OwnershipEvent(
            id=self.gen.new_id(), customer_id=self.customer.id, event=event,
            from_owner_id=self.owner.id if self.owner else None, to_owner_id=to.id if to else None,
            actor_id=actor.id if actor else None, reason=reason, at=at))

    def claim(self, at: dt.datetime, rep: User, *, event: str = "claim", actor: User | None = None,
              reason: str | None = None) -> None:
        assert self.owner is None and at > self.last_move
        self._ownership(event, at, to=rep, actor=actor or rep, reason=reason)
        self.owner, self.claimed_at, self.last_move = rep, at, at

    def to_pool(self, at: dt.datetime, *, event: str, actor: User | None, reason: str | None) -> None:
        assert self.owner is not None and at > self.last_move
        self._ownership(event, at, to=None, actor=actor, reason=reason)
        self.owner, self.claimed_at, self.last_move = None, None, at

    # --- activities ---

    def log(self, at: dt.datetime, type_: str, actor: User, *, subject: str,
            outcome: str | None = None) -> Activity:
        gen, rng = self.gen, self.gen.rng
        assert at <= gen.now
        activity = Activity(
            id=gen.new_id(), customer_id=self.customer.id, contact_id=rng.choice(self.draft.contacts).id,
            type=type_, occurred_at=at, subject=subject, outcome=outcome, created_by=actor.id,
            duration_minutes={"call": rng.randint(3, 25), "visit": rng.randint(40, 120),
                              "meeting": rng.randint(45, 90)}.get(type_), version=1)
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

    def talk(self, at: dt.datetime, actor: User, *,
             kinds: Sequence[tuple[str, int]] | None = None) -> Activity:
        """A routine follow-up of a random kind."""
        type_ = self.gen.weighted(kinds or [("call", 45), ("visit", 20), ("email", 15), ("message", 12),
                                            ("meeting", 8)])
        subject, outcome = self.gen.rng.choice(_ACTIVITY_TEXTS[type_])
        return self.log(at, type_, actor, subject=subject, outcome=outcome)

    def activities_by(self, at: dt.datetime) -> int:
        return sum(1 for a in self.draft.activities if a.occurred_at <= at)

    # --- moves ---

    def move(self, to: Stage, at: dt.datetime, actor: User, *, reason: str | None = None,
             note: str | None = None, director_override: bool = False) -> StageTransition:
        assert at > self.last_move, (self.customer.name, to, at, self.last_move)
        c = self.customer
        facts = StageFacts(grade=c.grade, recommended_products=tuple(c.recommended_products),
                           target_amount=c.target_amount, activity_count=self.activities_by(at),
                           cooldown_until=self.cooldown_until)
        decision = decide_transition(TransitionRequest(
            current=self.stage, target=to, reason=reason, note=note, now=at,
            director_override=director_override), facts)
        stored = StageTransition(
            id=self.gen.new_id(), customer_id=c.id, from_stage=self.stage.value, to_stage=to.value,
            kind=decision.kind.value, at=at, actor_id=actor.id,
            reason=None if decision.reason is None else str(decision.reason), note=decision.note,
            owner_id=self.owner.id if self.owner else None,
            team_id=self.owner.team_id if self.owner else None,
            days_in_from_stage=days_in_stage(self.entered, now=at),
            skipped=[s.value for s in decision.skipped], out_of_funnel=decision.out_of_funnel,
            director_override=False)
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

    def walk(self, path: Sequence[Stage], times: Sequence[dt.datetime], actor: User,
             start: dt.datetime) -> None:
        """Move along ``path`` at ``times``; an activity precedes the first contact-stage entry
        and (usually) a meeting precedes entering intent, as a real rep's work would."""
        previous = start
        for to, at in zip(path, times, strict=True):
            forward = stage_position(to) > stage_position(self.stage)
            if (forward and stage_position(to) >= stage_position(Stage.contacted)
                    and self.activities_by(at) == 0):
                self.talk(self.gen.between(previous, at), actor,
                          kinds=[("call", 70), ("email", 15), ("visit", 15)])
            if forward and to is Stage.intent and self.gen.rng.random() < 0.7:
                self.talk(self.gen.between(previous, at), actor, kinds=[("meeting", 60), ("visit", 40)])
            reason = None if forward else self.gen.rng.choice(_BACKWARD_REASONS)
            self.move(to, at, actor, reason=reason)
            previous = at

    def abandon(self, at: dt.datetime, actor: User, *, reason: AbandonReason | None = None) -> None:
        reason = reason or self.gen.weighted(_ABANDON_WEIGHTS)
        manager = self.gen.org.manager_of(self.owner) if self.owner is not None else None
        transition = self.move(Stage.abandoned, at, actor, reason=reason.value,
                               note=self.gen.rng.choice(_ABANDON_NOTES[reason]))
        reviewed_at = at + dt.timedelta(days=self.gen.rng.uniform(0.1, 3))
        if manager is not None and reviewed_at < self.gen.now and self.gen.rng.random() < 0.6:
            verdict = self.gen.weighted([("agree", 80), ("disagree", 20)])
            self.draft.reviews.append(AbandonmentReview(
                id=self.gen.new_id(), transition_id=transition.id, customer_id=self.customer.id,
                reviewer_id=manager.id, verdict=verdict, at=reviewed_at,
                comment=self.gen.rng.choice(_REVIEW_COMMENTS[verdict])))

    # --- done ---

    def finish(self) -> _Draft:
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
        c.updated_at = max([c.created_at, self.last_move, *(a.received_at for a in d.activities),
                            *(r.at for r in d.reviews)])
        c.completeness = completeness_of(c, d.contacts)
        changes = created_changes(c, len(d.contacts))
        changes["note"] = [None, f"demo data: {d.scenario}"]
        d.history.append(CustomerHistory(
            id=self.gen.new_id(), customer_id=c.id, at=c.created_at, actor_id=c.created_by,
            action="seed", entity="customer", entity_id=c.id, changes=changes))
        self.gen.drafts.append(d)
        return d


_ACTIVITY_TEXTS: dict[str, list[tuple[str, str | None]]] = {
    "call": [("电话初次沟通，介绍公司和产品", "客户愿意进一步了解"),
             ("电话跟进需求", "确认了使用人数和预算范围"),
             ("电话回访", "未接通，稍后再联系"), ("电话确认拜访时间", "约定下周上门"),
             ("电话沟通报价", "客户希望再优惠一些")],
    "visit": [("上门拜访，现场演示CRM专业版", "客户对移动端很感兴趣"),
              ("拜访客户IT部门", "梳理了现有系统对接需求"),
              ("拜访采购负责人", "了解采购流程和决策链")],
    "email": [("发送产品资料和案例", None), ("发送报价单", None), ("发送实施方案初稿", None)],
    "message": [("微信沟通试用账号", "已开通试用"), ("微信跟进资料反馈", "客户已转发给技术总监")],
    "meeting": [("方案沟通会", "客户提出数据迁移和权限方面的顾虑"), ("商务洽谈", "讨论付款方式和实施周期"),
                ("需求调研会", "确认了销售团队规模和流程")],
}


# ----------------------------------------------------------------------------------------
# Scenarios: who the customers are and how they got where they are
# ----------------------------------------------------------------------------------------

# Share of a rep's active customers per stage (resource…intent), close to the ideal funnel.
_OWNED_MIX = [(Stage.resource, 8), (Stage.graded, 22), (Stage.contacted, 32), (Stage.lead, 22),
              (Stage.intent, 16)]
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


def _path_to(gen: _Gen, stage: Stage, *, start: Stage = Stage.resource,
             variants: bool = True) -> list[Stage]:
    """The stages a customer passes from ``start`` to ``stage``: normally every one in order;
    sometimes skipping one (out of funnel) or stepping back once with a reason."""
    path = list(FUNNEL_ORDER[stage_position(start) + 1: stage_position(stage) + 1])
    roll = gen.rng.random()
    skippable = [s for s in path[:-1] if s in (Stage.contacted, Stage.lead)]
    bounceable = [i for i, s in enumerate(path) if s in (Stage.graded, Stage.contacted, Stage.lead)]
    if variants and roll < 0.12 and skippable:
        path.remove(gen.rng.choice(skippable))
    elif variants and roll < 0.20 and bounceable:
        i = gen.rng.choice(bounceable)
        ahead = next_stage(path[i])
        assert ahead is not None
        path[i + 1: i + 1] = [ahead, path[i]]
    return path


def _plan_pool_fresh(gen: _Gen) -> None:
    """Imported or inbound prospects nobody has touched yet."""
    support = gen.org.support
    _Story(gen, "pool", source=gen.weighted(_POOL_SOURCES), created_by=support,
           at=gen.ago(gen.rng.uniform(0.2, WINDOW_DAYS)), graded=False).finish()


def _plan_pool_graded(gen: _Gen) -> None:
    """Support verified and graded them in the pool (the best resources for allocation)."""
    support = gen.org.support
    created = gen.ago(gen.rng.uniform(2, WINDOW_DAYS))
    story = _Story(gen, "pool graded", source=gen.weighted(_POOL_SOURCES), created_by=support,
                   at=created, graded=True)
    story.move(Stage.graded, gen.between(created, min(created + dt.timedelta(days=6), gen.now)), support)
    story.finish()


def _plan_pool_released(gen: _Gen) -> None:
    """A rep claimed it, found no need and released it back to the pool."""
    rep = gen.rng.choice(gen.org.reps)
    created = gen.ago(gen.rng.uniform(10, WINDOW_DAYS))
    story = _Story(gen, "pool released", source=gen.weighted(_POOL_SOURCES), created_by=gen.org.support,
                   at=created, graded=False)
    claimed = gen.between(created, min(created + dt.timedelta(days=20), gen.ago(5)))
    story.claim(claimed, rep)
    released = claimed + dt.timedelta(days=gen.rng.uniform(0.5, 4))
    story.talk(gen.between(claimed, released), rep, kinds=[("call", 100)])
    story.to_pool(released, event="release", actor=rep,
                  reason=gen.rng.choice(["客户暂无需求", "非目标行业", "已有合作伙伴"]))
    story.finish()


def _plan_pool_recycled(gen: _Gen) -> None:
    """Contact lapsed for longer than the protection period: the sweep took it back."""
    rep = gen.rng.choice(gen.org.reps)
    protection = gen.policy.protection_days
    last_contact = gen.ago(gen.rng.uniform(protection + 3, 45))
    stage = gen.weighted([(Stage.graded, 30), (Stage.contacted, 50), (Stage.lead, 20)])
    path = _path_to(gen, stage, variants=False)
    claimed = last_contact - dt.timedelta(days=gen.rng.uniform(3, 20))
    created = claimed - dt.timedelta(days=gen.rng.uniform(0.5, 20))
    story = _Story(gen, "pool recycled", source=gen.weighted(_POOL_SOURCES), created_by=gen.org.support,
                   at=created, graded=True)
    story.claim(claimed, rep)
    entered = gen.between(claimed, last_contact)
    story.walk(path, gen.spread(claimed, entered, len(path)), rep, claimed)
    story.talk(last_contact, rep)
    story.to_pool(last_contact + dt.timedelta(days=protection, minutes=gen.rng.randint(1, 300)),
                  event="recycle", actor=None, reason="protection_expired")
    story.finish()


def _plan_abandoned(gen: _Gen, *, cooled: bool, reactivate: bool = False) -> None:
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
    before = gen.weighted([(Stage.resource, 10), (Stage.graded, 25), (Stage.contacted, 35),
                           (Stage.lead, 20), (Stage.intent, 10)])
    path = _path_to(gen, before)
    span = min(rng.uniform(3, 8) + 4 * len(path), available * 0.7)
    claimed = abandoned_at - dt.timedelta(days=span)
    created = claimed - dt.timedelta(days=rng.uniform(0.2, available - span))
    story = _Story(gen, "abandoned", source=gen.weighted(_POOL_SOURCES), created_by=gen.org.support,
                   at=created, graded=before is not Stage.resource)
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


def _plan_abandoned_by_support(gen: _Gen) -> None:
    """Support cleaned the pool: a duplicate or unsuitable record, abandoned in cooldown."""
    support = gen.org.support
    abandoned_at = gen.ago(gen.rng.uniform(1, max(min(60, gen.policy.cooldown_days - 1), 1.5)))
    story = _Story(gen, "abandoned", source="import", created_by=support,
                   at=abandoned_at - dt.timedelta(days=gen.rng.uniform(0.5, 20)), graded=False)
    story.abandon(abandoned_at, support,
                  reason=gen.rng.choice([AbandonReason.duplicate, AbandonReason.unsuitable]))
    story.finish()


def _plan_owned(gen: _Gen, rep: User, stage: Stage, *, lapsing: bool) -> None:
    """A rep's active customer: claimed, assigned or self-discovered, moved along the funnel,
    contact kept within the protection period (some about to lapse), follow-ups planned."""
    rng = gen.rng
    protection = gen.policy.protection_days
    anchor_age = (rng.uniform(protection - 1.9, protection - 0.2) if lapsing
                  else rng.uniform(0.05, max(protection - 2.2, 0.3)))
    anchor = gen.ago(anchor_age)  # the last contact (or the claim, for customers not contacted yet)
    direct = stage in (Stage.lead, Stage.intent) and rng.random() < 0.12
    mode = "direct" if direct else gen.weighted([("claim", 62), ("assign", 20), ("self", 18)])
    path = [] if direct else _path_to(gen, stage)
    talks = direct or stage_position(stage) >= stage_position(Stage.contacted) or (
        stage is Stage.graded and rng.random() < 0.5)
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
        story = _Story(gen, "owned", source=gen.weighted(_POOL_SOURCES), created_by=gen.org.support,
                       at=created, graded=bool(path))
        if mode == "claim":
            story.claim(claimed, rep)
        else:
            manager = gen.org.manager_of(rep)
            story.claim(claimed, rep, event="assign", actor=manager,
                        reason=rng.choice(["组内分配", "胖子原则：优先分配给业绩靠前的销售"]))
    elif mode == "self":
        story = _Story(gen, "owned", source="self_discovered", created_by=rep, at=claimed,
                       graded=bool(path), owner=rep, discovered_by=rep)
    else:
        story = _Story(gen, "owned, created beyond graded", source=rng.choice(["referral", "inbound_call"]),
                       created_by=rep, at=claimed, graded=True, stage=stage, owner=rep,
                       discovered_by=rep)
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


def _plan_customers(gen: _Gen) -> list[_Draft]:
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


# ----------------------------------------------------------------------------------------
# Writing (one transaction, a few flushes)
# ----------------------------------------------------------------------------------------


async def _seed_customers(uow: UnitOfWork, drafts: Sequence[_Draft]) -> None:
    # Referrers were planned first, so they are inserted before the customers they referred.
    uow.session.add_all([d.customer for d in drafts])
    await uow.flush()


async def _seed_contacts(uow: UnitOfWork, drafts: Sequence[_Draft]) -> None:
    contacts = [c for d in drafts for c in d.contacts]
    uow.session.add_all(contacts)
    await uow.flush()
    await uow.contacts.add_points(contacts)


async def _seed_history(uow: UnitOfWork, drafts: Sequence[_Draft]) -> None:
    """Stage transitions, ownership events, the audit entry; then the abandonment reviews."""
    uow.session.add_all([t for d in drafts for t in d.transitions])
    uow.session.add_all([e for d in drafts for e in d.ownership])
    uow.session.add_all([h for d in drafts for h in d.history])
    await uow.flush()
    uow.session.add_all([r for d in drafts for r in d.reviews])


async def _seed_activities(uow: UnitOfWork, drafts: Sequence[_Draft]) -> None:
    uow.session.add_all([a for d in drafts for a in d.activities])
    await uow.flush()


# ----------------------------------------------------------------------------------------
# What was seeded, for the command's output
# ----------------------------------------------------------------------------------------


def _summary(gen: _Gen, drafts: Sequence[_Draft]) -> list[str]:
    now, policy = gen.now, gen.policy
    customers = [d.customer for d in drafts]
    stages = Counter(c.stage for c in customers)
    per_stage = ", ".join(f"{s.value} {stages[s.value]}" for s in (*FUNNEL_ORDER, Stage.abandoned)
                          if stages[s.value])
    pool = [c for c in customers if c.owner_id is None]
    claimable = [c for c in pool if c.stage != Stage.abandoned.value
                 and (c.cooldown_until is None or c.cooldown_until <= now)]
    cooling = [c for c in pool if c.cooldown_until is not None and c.cooldown_until > now]
    cooled = [c for c in pool if c.cooldown_until is not None and c.cooldown_until <= now]
    active = Counter(c.owner_id for c in customers
                     if c.owner_id is not None and Stage(c.stage) in ACTIVE_STAGES)
    reps = ", ".join(f"{rep.username} {active[rep.id]}" for rep in gen.org.reps)
    owned = [c for c in customers if c.owner_id is not None]
    lapsing = [c for c in owned if lapses_within(last_contact_at=c.last_contact_at,
                                                 claimed_at=c.claimed_at, now=now, policy=policy)]
    horizon = now + dt.timedelta(days=2)
    lapsed_by_horizon = [c for c in owned if (deadline := protection_deadline(
        last_contact_at=c.last_contact_at, claimed_at=c.claimed_at, policy=policy)) and deadline < horizon]
    follow_ups: dict[uuid.UUID, dt.datetime] = {}
    for d in drafts:
        planned = [a.next_follow_up_at for a in d.activities if a.next_follow_up_at is not None]
        if planned:
            follow_ups[d.customer.id] = max(planned)
    due = [c for c in owned if (f := follow_ups.get(c.id)) is not None and f <= now
           and (c.last_contact_at is None or c.last_contact_at < f)]
    transitions = [t for d in drafts for t in d.transitions]
    kinds = Counter(t.kind for t in transitions)
    out_of_funnel = sum(1 for c in customers if c.out_of_funnel)
    reviews = sum(len(d.reviews) for d in drafts)
    return [
        "teams: 华东大区 → 上海一组 (manager1: rep1, rep2), 杭州二组 (manager2: rep3, rep4)",
        f"customers: {len(customers)} — {per_stage}",
        f"pool: {len(pool)} unowned — {len(claimable)} claimable, {len(cooling)} abandoned in "
        f"cooldown, {len(cooled)} abandoned with cooldown ended",
        f"active customers per rep (limit {policy.max_active_customers}): {reps}",
        f"contacts: {sum(len(d.contacts) for d in drafts)}; activities: "
        f"{sum(len(d.activities) for d in drafts)}; transitions: {len(transitions)} "
        f"({kinds['forward']} forward, {kinds['backward']} backward, {kinds['abandon']} abandon, "
        f"{kinds['reactivate']} reactivate); {out_of_funnel} out-of-funnel customers; "
        f"{reviews} abandonment reviews",
        f"worklists: {len(lapsing)} customers with protection lapsing within 2 days, "
        f"{len(due)} follow-ups due",
        f"try: POST /api/v1/auth/token as rep1 / {DEMO_PASSWORD}, then GET /api/v1/me/worklist",
        f"try: POST /api/v1/pool/recycle {{\"dry_run\": true, \"as_of\": \"{jsonable(horizon)}\"}} "
        f"as support → {len(lapsed_by_horizon)} would lapse, {len(cooled)} cooldowns end",
        "try: as rep2 (at the holding limit) GET /api/v1/pool, then POST /api/v1/customers/{id}/claim "
        "→ 409 pool.quota_exceeded",
    ]


__all__ = ["DEMO_PASSWORD", "SeedResult", "create_user", "seed_demo", "seed_demo_with"]


# ----------------------------------------------------------------------------------------
# Trading: limits, contracts, instalments, payments — through the real use cases, so the
# credit checks, funnel moves and histories are exactly what the API would record
# ----------------------------------------------------------------------------------------

# (limit, contract amount, signed days ago, instalments as (share, issued days ago, due days
# ago), paid share of the billed total, accepted) — from fully paid and implemented down to
# a customer on credit hold with an invoice long overdue.
_TRADES: list[tuple[str, str, int, list[tuple[str, int, int]], str, bool]] = [
    ("500000", "320000.00", 300, [("0.5", 290, 260), ("0.5", 200, 170)], "1.00", True),
    ("300000", "180000.00", 240, [("0.6", 230, 200), ("0.4", 120, 90)], "0.80", True),
    ("200000", "150000.00", 210, [("0.3", 200, 170), ("0.3", 110, 80), ("0.4", 20, -10)], "0.45", False),
    ("100000", "86000.00", 190, [("1.0", 180, 150)], "0.20", False),
    ("800000", "560000.00", 120, [("0.5", 100, 70), ("0.5", 40, 10)], "0.60", False),
    ("150000", "98000.00", 60, [("0.5", 50, 20)], "0.00", False),
    ("1200000", "950000.00", 30, [], "0.00", False),
    ("50000", "42000.00", 15, [("1.0", 10, -20)], "0.00", False),
]


async def _seed_trading(uow: UnitOfWork, org: _Org, customers: Sequence[Customer], *,
                        now: dt.datetime) -> str:
    """Give the reps' most advanced customers contracts, bills and payments."""
    from decimal import Decimal

    from app.services import auth as auth_service
    from app.services import contracts as contracts_service
    from app.services import credit as credit_service
    from app.services import receivables as receivables_service

    async with uow:
        people = {u.username: await auth_service.build_principal_in(uow, u)
                  for u in (*org.reps, *[await uow.users.get_by_username(n) for n in ("finance", "director")])
                  if u is not None}
    finance, director = people["finance"], people["director"]
    rep_of = {u.user_id: u for name, u in people.items() if name in REP_NAMES}
    # rep2 stays at the holding limit, so the demo can show a refused claim.
    candidates = sorted((c for c in customers if c.stage == Stage.intent.value and c.owner_id in rep_of
                         and c.owner_id != people["rep2"].user_id), key=lambda c: c.id)
    day = dt.timedelta(days=1)
    billed_total = paid_total = Decimal(0)
    for n, (customer, trade) in enumerate(zip(candidates, _TRADES, strict=False)):
        limit, amount, signed_ago, instalments, paid_share, accepted = trade
        rep = rep_of[customer.owner_id]
        request = await credit_service.request_limit(uow, rep, customer_id=customer.id,
                                                     requested_limit=Decimal(limit), reason="年度框架合同")
        approver = director if Decimal(limit) > Decimal("1000000") else finance
        await credit_service.approve_request(uow, approver, request_id=request.id, note="信用良好")
        contract = await contracts_service.create_contract(
            uow, rep, customer_id=customer.id, number=f"HT-DEMO-{n + 1:03d}", amount=Decimal(amount))
        await contracts_service.sign_contract(uow, rep, contract_id=contract.id,
                                              signed_at=now - signed_ago * day)
        billed = Decimal(0)
        for share, issued_ago, due_ago in instalments:
            part = (Decimal(amount) * Decimal(share)).quantize(Decimal("0.01"))
            await receivables_service.create_receivable(
                uow, finance, contract_id=contract.id, amount=part, issued_at=now - issued_ago * day,
                due_at=now - due_ago * day)
            billed += part
        paid = (billed * Decimal(paid_share)).quantize(Decimal("0.01"))
        if paid:
            await receivables_service.record_payment(uow, finance, customer_id=customer.id, amount=paid,
                                                     received_at=now - 5 * day, reference=f"BANK-{n + 1:04d}")
        if accepted:
            await contracts_service.accept_contract(uow, rep, contract_id=contract.id)
        billed_total += billed
        paid_total += paid
    count = min(len(candidates), len(_TRADES))
    return (f"trading: {count} contracts, billed {billed_total:,.2f}, collected {paid_total:,.2f} — "
            "try GET /api/v1/reports/ar-aging as finance")
