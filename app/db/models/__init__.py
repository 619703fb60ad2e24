"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.db.base import Base
from app.db.models.auth import IdempotencyRecord, RefreshToken
from app.db.models.customers import (
    Activity,
    Contact,
    ContactPoint,
    Customer,
    CustomerHistory,
)
from app.db.models.funnel import (
    AbandonmentReview,
    OwnershipEvent,
    Setting,
    SettingHistory,
    StageTransition,
)
from app.db.models.org import Team, User

__all__ = [
    "AbandonmentReview",
    "Activity",
    "Base",
    "Contact",
    "ContactPoint",
    "Customer",
    "CustomerHistory",
    "IdempotencyRecord",
    "OwnershipEvent",
    "RefreshToken",
    "Setting",
    "SettingHistory",
    "StageTransition",
    "Team",
    "User",
]
