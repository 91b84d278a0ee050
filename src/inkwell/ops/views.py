"""Liveness and readiness for orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from inkwell.auth.deps import RuntimeDep
from inkwell.completion.delivery import shutting_down
from inkwell.http import JSONResponse
from inkwell.openapi import error_responses

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: the database (and Redis, when configured) answer",
    responses=error_responses(503),
)
async def readyz(runtime: RuntimeDep) -> Response:
    checks: dict[str, str] = {}
    try:
        async with runtime.db.session() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if runtime.settings.redis_url:
        try:
            await runtime.tasks.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "disabled"
    if shutting_down():
        checks["server"] = "error: shutting down"
    failed = [name for name, state in checks.items() if state.startswith("error")]
    if failed:
        return JSONResponse(
            {
                "code": "service_unavailable",
                "message": "not ready: " + ", ".join(f"{n} {checks[n]}" for n in failed),
                "status": 503,
                "checks": checks,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "checks": checks})
