"""``socdesk demo``: web server and worker in one process, on one event loop."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

from portal.app import create_app
from portal.runtime.bootstrap import Runtime
from portal.runtime.demo_integrations import demo_activity, ensure_demo_connections, start_emulators, stop_emulators
from workers.settings import build_worker


async def run_demo(runtime: Runtime, *, host: str, port: int) -> None:
    emulators = await start_emulators(host, port + 1)
    await ensure_demo_connections(runtime.settings, runtime.urls.database_url, emulators)
    for emulator in emulators:
        print(f"  {emulator.vendor} emulator: {emulator.url}/ (admin API under /_emulator)", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime.settings),
            host=host,
            port=port,
            log_level="info",
            lifespan="on",
            timeout_graceful_shutdown=3,  # live-update streams stay open until the browser leaves
        )
    )
    worker = build_worker(runtime.settings, runtime.urls.database_url, runtime.urls.redis_url, handle_signals=False)
    worker_task = asyncio.create_task(worker.main())
    activity = asyncio.create_task(demo_activity(emulators))
    try:
        # uvicorn owns SIGINT/SIGTERM here; when it returns, the worker follows.
        await server.serve()
    finally:
        activity.cancel()
        await worker.close()
        worker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task
        await stop_emulators(emulators)
