"""What routers need from below the service layer, without importing the database package."""

from app.db.repositories.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.db.uow import UnitOfWork

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Page", "UnitOfWork"]
