"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.db.base import Base
from app.db.models.auth import IdempotencyRecord, RefreshToken
from app.db.models.org import Team, User

__all__ = ["Base", "IdempotencyRecord", "RefreshToken", "Team", "User"]
