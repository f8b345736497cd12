"""The application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from collector import __version__
from collector.api import (
    access,
    admin,
    agent,
    assets,
    bulletins,
    drills,
    exports,
    findings,
    health,
    policies,
    register,
    trainings,
    vpn,
    vpn_syslog,
)
from collector.api.errors import install_error_handlers
from collector.db.engine import make_engine, make_sessionmaker
from collector.settings import Settings
from collector.web import (
    access_pages,
    assets_pages,
    bulletins_pages,
    drills_pages,
    findings_pages,
    policies_pages,
    register_pages,
    trainings_pages,
    vpn_pages,
    vpn_syslog_pages,
)
from collector.web import routes as web
from collector.web.common import make_templates

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="Watchpost collector",
        version=__version__,
        description="Agent and admin API of the Watchpost collector (wire contract v1).",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.templates = make_templates(settings)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(agent.router)
    app.include_router(admin.router)
    app.include_router(register.router)
    app.include_router(exports.router)
    app.include_router(access.router)
    app.include_router(assets.router)
    app.include_router(policies.router)
    app.include_router(findings.router)
    app.include_router(bulletins.router)
    app.include_router(drills.router)
    app.include_router(trainings.router)
    app.include_router(vpn.router)
    app.include_router(vpn_syslog.router)
    app.include_router(web.router)
    app.include_router(register_pages.router)
    app.include_router(access_pages.router)
    app.include_router(assets_pages.router)
    app.include_router(policies_pages.router)
    app.include_router(findings_pages.router)
    app.include_router(bulletins_pages.router)
    app.include_router(drills_pages.router)
    app.include_router(trainings_pages.router)
    app.include_router(vpn_pages.router)
    app.include_router(vpn_syslog_pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "web" / "static")), name="static")
    return app
