"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hub.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The hub can take messages: the store answers and every worker is running."""
    checks: dict[str, Any] = {}
    try:
        await runtime.store.ping()
        checks["store"] = "ok"
    except Exception as exc:  # any database failure means not ready
        checks["store"] = f"failing: {type(exc).__name__}"
    stopped = runtime.stopped_workers()
    checks["workers"] = "ok" if not stopped else f"stopped: {', '.join(stopped)}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )
