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
from app.db.models.org import Team, User

__all__ = [
    "Activity",
    "Base",
    "Contact",
    "ContactPoint",
    "Customer",
    "CustomerHistory",
    "IdempotencyRecord",
    "RefreshToken",
    "Team",
    "User",
]
