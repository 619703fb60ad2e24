"""ORM models. Importing this package registers every table on ``Base.metadata``."""

from app.db.base import Base
from app.db.models.auth import IdempotencyRecord, LoginThrottle, RefreshToken
from app.db.models.credit import (
    Contract,
    CreditLimitChange,
    CreditLimitRequest,
    CreditOverrideRequest,
    CreditProfile,
    CreditRefund,
    Payment,
    PaymentApplication,
    Receivable,
)
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
from app.db.models.grading import CustomerGrading
from app.db.models.integration import (
    ApiKey,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from app.db.models.org import Team, User
from app.db.models.reports import (
    ReportFunnelCount,
    ReportFunnelDuration,
    ReportFunnelState,
    Target,
)
from app.db.models.service import Complaint, Survey
from app.db.models.sync import ChangeCounter, ChangeLog, SyncReceipt
from app.db.models.tasks import Task

__all__ = [
    "AbandonmentReview",
    "Activity",
    "ApiKey",
    "Base",
    "ChangeCounter",
    "ChangeLog",
    "Complaint",
    "Contact",
    "ContactPoint",
    "Contract",
    "CreditLimitChange",
    "CreditLimitRequest",
    "CreditOverrideRequest",
    "CreditProfile",
    "CreditRefund",
    "Customer",
    "CustomerGrading",
    "CustomerHistory",
    "IdempotencyRecord",
    "LoginThrottle",
    "OwnershipEvent",
    "Payment",
    "PaymentApplication",
    "Receivable",
    "RefreshToken",
    "ReportFunnelCount",
    "ReportFunnelDuration",
    "ReportFunnelState",
    "Setting",
    "SettingHistory",
    "StageTransition",
    "Survey",
    "SyncReceipt",
    "Target",
    "Task",
    "Team",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
