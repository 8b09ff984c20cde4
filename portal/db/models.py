"""Every mapped model, imported in one place so Alembic and tests see the whole schema."""

from portal.db.base import Base
from portal.domain.accounts.models import User
from portal.domain.system.models import WorkerHeartbeat

__all__ = ["Base", "User", "WorkerHeartbeat"]
