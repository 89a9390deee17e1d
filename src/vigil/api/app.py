"""The management server: REST + WebSocket API, web client, metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from vigil import __version__
from vigil.api.deps import ServerContext
from vigil.api.routes import bus, cameras, events, live, recordings, system
from vigil.bus.memory import InProcessBus
from vigil.config import Settings
from vigil.security.secrets import SecretBox
from vigil.store.db import open_database

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def create_app(settings: Settings) -> FastAPI:
    """Build the server application for the given settings."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_dirs()
        db = open_database(settings.db_url)
        bus_ = InProcessBus()
        app.state.ctx = ServerContext(
            settings=settings, db=db, bus=bus_, secrets=SecretBox.for_data_dir(settings.data_dir)
        )
        log.info("server ready on %s", settings.server_url)
        yield
        await bus_.close()
        db.dispose()

    app = FastAPI(
        title="Vigil",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Say which field is wrong and why, without echoing back submitted secrets.
        errors = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    for module in (cameras, recordings, live, events, system, bus):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    return app
