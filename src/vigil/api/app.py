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
from sqlalchemy.exc import DataError

from vigil import __version__
from vigil.alarms.manager import AlarmManager
from vigil.analytics.status_board import AnalyticsStatusBoard
from vigil.api.deps import ServerContext
from vigil.api.errors import (
    DatabaseUnavailable,
    FieldError,
    domain_error_handler,
    field_error_handler,
    publish_validation_problem,
    unstorable_value_handler,
)
from vigil.api.guard import AuthGate, check_routes_guarded
from vigil.api.routes import (
    actions,
    alarms,
    analytics,
    bookmarks,
    bus,
    camera_groups,
    cameras,
    events,
    evidence,
    evidence_locks,
    heatmap,
    inputs,
    live,
    penalties,
    privacy,
    push,
    recordings,
    registers,
    rules,
    search,
    sites,
    subject_requests,
    system,
    time_profiles,
)
from vigil.api.routes import audit as audit_routes
from vigil.api.routes import auth as auth_routes
from vigil.api.routes import map as map_routes
from vigil.api.routes import tokens as token_routes
from vigil.api.routes import users as user_routes
from vigil.api.security_headers import SecurityHeaders
from vigil.bus.connect import server_bus
from vigil.config import Settings
from vigil.domain.errors import Conflict, NotFound
from vigil.federation.link import FederationService
from vigil.integrations import Integrations
from vigil.integrations.tiles import TileRelay
from vigil.registers.faces import FaceMatcher
from vigil.registers.hits import RegisterHits
from vigil.registers.sync import RegisterSync
from vigil.rules.dispatcher import Dispatcher
from vigil.rules.engine import RulesEngine
from vigil.rules.executors import core_executors
from vigil.search.track_writer import TrackWriter
from vigil.security.secrets import SecretBox
from vigil.store.db import open_database
from vigil.store.users import ensure_builtin_roles

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def create_app(settings: Settings) -> FastAPI:
    """Build the server application for the given settings."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_dirs()
        db = open_database(settings.db_url)
        bus_ = await server_bus(settings)
        secrets = SecretBox.for_data_dir(settings.data_dir)
        integrations = Integrations(settings=settings, db=db, bus=bus_, secrets=secrets)
        await integrations.start()
        executors = {**core_executors(db), **integrations.executors}
        dispatcher = Dispatcher(db, bus_, secrets, executors, settings.alarms)
        engine = RulesEngine(db, bus_, on_actions=dispatcher.wake, site=settings.site)
        alarm_manager = AlarmManager(db, bus_, settings.alarms)
        track_writer = TrackWriter(db, bus_, site=settings.site)  # for search and heatmaps
        register_hits = RegisterHits(db, bus_)  # plate readings on the registers
        face_matcher = FaceMatcher(db, bus_, data_dir=settings.data_dir)  # faces on them
        federation = FederationService(db, bus_, secrets, settings.federation)  # linked sites
        app.state.ctx = ServerContext(
            settings=settings,
            db=db,
            bus=bus_,
            secrets=secrets,
            engine=engine,
            dispatcher=dispatcher,
            alarms=alarm_manager,
            integrations=integrations,
            analytics_status=AnalyticsStatusBoard(bus_),
            register_sync=RegisterSync(db),
            tiles=TileRelay(settings.map) if settings.map.tile_url else None,
        )
        ensure_builtin_roles(db)
        if (setup_token := app.state.ctx.setup.issue_if_needed(db)) is not None:
            log.warning(
                "no user exists yet: create the first administrator in the web client with "
                "setup token %s, or run `vigil users create-admin NAME`",
                setup_token,
            )
        # Alarms are stored before anything is sent: the engine writes, the dispatcher sends.
        await engine.start()
        await dispatcher.start()
        await alarm_manager.start()
        await track_writer.start()
        await register_hits.start()
        await face_matcher.start()
        await app.state.ctx.register_sync.start()
        await app.state.ctx.analytics_status.start()
        await federation.start()
        log.info("server ready on %s", settings.server_url)
        yield
        await federation.stop()
        await app.state.ctx.register_sync.stop()
        await face_matcher.stop()
        await register_hits.stop()
        await track_writer.stop()
        await app.state.ctx.analytics_status.stop()
        await alarm_manager.stop()
        await engine.stop()
        await dispatcher.stop()
        await integrations.stop()
        if app.state.ctx.tiles is not None:
            await app.state.ctx.tiles.close()
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

    app.add_exception_handler(FieldError, field_error_handler)
    publish_validation_problem(app)
    # Integers past 64 bits, NUL bytes for PostgreSQL: the client's mistake, answered 422.
    app.add_exception_handler(OverflowError, unstorable_value_handler)
    app.add_exception_handler(DataError, unstorable_value_handler)
    app.add_exception_handler(NotFound, domain_error_handler)
    app.add_exception_handler(Conflict, domain_error_handler)

    modules = [cameras, camera_groups, recordings, bookmarks, live, events, rules, time_profiles]
    modules += [alarms, actions, inputs, push, system, bus, search, heatmap, analytics]
    modules += [evidence, evidence_locks, auth_routes, user_routes, token_routes, audit_routes]
    modules += [subject_requests]
    modules += [privacy]
    modules += [sites, registers, penalties, map_routes]
    routers = [module.router for module in modules]
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    # Authentication before any route; each route's own check is required by the second line.
    app.add_middleware(AuthGate, data_dir=settings.data_dir)
    check_routes_guarded(routers)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    # Around the auth gate, which reads sessions: the database away answers 503.
    app.add_middleware(DatabaseUnavailable)
    # Added last, so outermost: the auth gate's refusals carry the headers too.
    app.add_middleware(SecurityHeaders)
    return app
