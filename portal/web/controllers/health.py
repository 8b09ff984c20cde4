"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, Response, get
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.db.migrate import schema_status

PROBE_TIMEOUT = 3.0


class HealthController(Controller):
    opt = {"exclude_from_auth": True, "exclude_from_csrf": True}

    @get("/healthz", name="healthz", cache=False)
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", name="readyz", cache=False)
    async def readyz(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        state = request.app.state
        checks: dict[str, dict[str, Any]] = {}
        engine = state.alchemy_config.get_engine()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                status = await schema_status(engine)
            checks["database"] = {"ok": True}
            checks["migrations"] = {"ok": status.up_to_date, "detail": status.describe()}
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            checks["database"] = {"ok": False, "detail": f"unreachable: {type(exc).__name__}"}
            checks["migrations"] = {"ok": False, "detail": "unknown while the database is unreachable"}
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await state.redis.ping()
            checks["redis"] = {"ok": True}
        except (RedisError, OSError, TimeoutError) as exc:
            checks["redis"] = {"ok": False, "detail": f"unreachable: {type(exc).__name__}"}
        ready = all(check["ok"] for check in checks.values())
        return Response(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )
