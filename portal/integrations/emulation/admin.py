"""The admin routes every emulator has: faults, a throttle, reset, the request log and the clock.

They live under ``/_emulator``, need no authentication (an emulator listens on localhost and
holds nothing real) and are exempt from fault injection and from the request log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromQuery
from litestar.types import ControllerRouterHandler

from portal.integrations.emulation.control import ADMIN_PREFIX, EmulatorControl
from portal.integrations.emulation.faults import FaultPlan
from portal.integrations.emulation.throttle import Throttle


async def json_object(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); 400 for anything else."""
    if not await request.body():
        return {}
    try:
        data = await request.json()
    except (ValueError, TypeError):
        raise HTTPException(status_code=400, detail="The body is not JSON.") from None
    if not isinstance(data, dict):
        raise HTTPException(status_code=400, detail="Send a JSON object.")
    return data


def parse_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time with a zone, or a 400 naming the field."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{what} must be an ISO 8601 time.") from None
    if moment.tzinfo is None:
        raise HTTPException(status_code=400, detail=f"{what} must include a time zone.")
    return moment


def admin_router(
    control: EmulatorControl,
    *,
    reset: Callable[[], None],
    route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Router:
    """``/_emulator/{faults,throttle,reset,requests,clock}`` plus the vendor's own admin handlers."""

    @get("/faults", sync_to_thread=False)
    def list_faults() -> dict[str, Any]:
        return {"value": [plan.to_json() for plan in control.faults.plans]}

    @post("/faults")
    async def add_fault(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        try:
            plan = FaultPlan.from_json(await json_object(request))
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return Response(control.faults.add(plan).to_json(), status_code=201)

    @delete("/faults", sync_to_thread=False)
    def clear_faults() -> None:
        control.faults.clear()

    @get("/throttle", sync_to_thread=False)
    def get_throttle() -> dict[str, Any]:
        return {"throttle": control.throttle.to_json() if control.throttle else None}

    @post("/throttle", status_code=200)
    async def set_throttle(request: Request[Any, Any, Any]) -> dict[str, Any]:
        """{"requests": n, "per_seconds": s}: at most n data-API requests per s seconds per Authorization."""
        try:
            control.throttle = Throttle.from_json(await json_object(request))
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return {"throttle": control.throttle.to_json()}

    @delete("/throttle", sync_to_thread=False)
    def clear_throttle() -> None:
        control.throttle = None

    @post("/reset", status_code=200, sync_to_thread=False)
    def reset_all() -> dict[str, bool]:
        reset()
        return {"reset": True}

    @get("/requests", sync_to_thread=False)
    def requests(
        method: FromQuery[str | None] = None, path_prefix: FromQuery[str] = "", limit: FromQuery[int] = 100
    ) -> dict[str, Any]:
        entries = control.requests.entries(method=method, path_prefix=path_prefix)
        return {"value": [entry.to_json() for entry in entries[-max(1, limit) :]]}

    @post("/clock", status_code=200)
    async def clock(request: Request[Any, Any, Any]) -> dict[str, Any]:
        """{"now": ISO time} freezes the clock there, {"advance_seconds": n} moves it, {"now": null} lets it run."""
        data = await json_object(request)
        if "now" in data:
            if data["now"] is None:
                control.clock.release()
            else:
                control.clock.set(parse_time(data["now"], "now"))
        if "advance_seconds" in data:
            try:
                control.clock.advance(float(data["advance_seconds"]))
            except (TypeError, ValueError):
                raise HTTPException(status_code=400, detail="advance_seconds must be a number.") from None
        return {"now": control.clock.now().isoformat(), "frozen": control.clock.frozen}

    return Router(
        path=ADMIN_PREFIX,
        route_handlers=[
            list_faults,
            add_fault,
            clear_faults,
            get_throttle,
            set_throttle,
            clear_throttle,
            reset_all,
            requests,
            clock,
            *route_handlers,
        ],
    )
