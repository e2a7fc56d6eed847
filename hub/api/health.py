"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hub.api.deps import HealthDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(health: HealthDep) -> JSONResponse:
    """The hub can take messages: the store answers, every worker is running, and none is stalled (holds
    records it has not finished for longer than ``HUB_WORKER_STALL_SECONDS``)."""
    checks: dict[str, Any] = {}
    try:
        await health.ping()
        checks["store"] = "ok"
    except Exception as exc:  # any database failure means not ready
        checks["store"] = f"failing: {type(exc).__name__}"
    checks["workers"] = workers_check(health.stopped_workers(), health.stalled_workers())
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


def workers_check(stopped: list[str], stalled: list[str]) -> str:
    """``ok``, or what is wrong: ``stopped: a, b``, ``stalled: c``, or both, separated by ``; ``."""
    problems = [f"{what}: {', '.join(names)}" for what, names in (("stopped", stopped), ("stalled", stalled)) if names]
    return "; ".join(problems) or "ok"
