"""The web application: :func:`create_app` builds it around a pipeline.

Starlette with server-side Jinja2 templates (autoescaping on, undefined names an
error), one small hand-written script for the keyboard shortcuts and one style
sheet, served from this package: no build step, nothing from another site.

Layers, outermost first: security headers and the Host check
(:class:`~monitor.web.security.SecurityHeaders`), the signed session cookie
(``SameSite=Strict``, HttpOnly), the login wall
(:class:`~monitor.web.security.LoginRequired`, when a login is required), the pages
(:mod:`monitor.web.pages`).
"""

from __future__ import annotations

import getpass
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from classifiers.taxonomy import load_taxonomy
from monitor.config import Settings
from monitor.pipeline import Pipeline
from monitor.rendering import Names, safe_url
from monitor.web.auth import LoginThrottle, Users, is_loopback, load_secret_key
from monitor.web.pages import DOMAIN_KEYS, DomainChoice, WebContext, render, routes
from monitor.web.security import LOOPBACK_NAMES, LoginRequired, SecurityHeaders

__all__ = ["create_app", "default_annotator", "login_required"]

HERE = Path(__file__).resolve().parent


def default_annotator() -> str:
    """The name labels are saved under when nobody logs in: the system user's."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "annotator"


def login_required(settings: Settings, host: str | None = None) -> bool:
    """Whether serving on ``host`` (default ``web.host``) needs a login."""
    return settings.web.require_login or not is_loopback(host or settings.web.host)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    names = Names.load()
    env.filters["safe_url"] = safe_url
    env.filters["country"] = names.country
    env.filters["domain"] = names.domain
    env.filters["date"] = lambda v, fmt="%d %b %Y %H:%M": v.strftime(fmt) if v else ""
    env.filters["pct"] = lambda v: "" if v is None else f"{100 * v:.0f}%"
    env.filters["num"] = lambda v: "" if v is None else f"{v:.2f}"
    return env


async def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "Nothing here.", 405: "Not allowed here."}
    detail = messages.get(exc.status_code, exc.detail)
    if "session" not in request.scope or not hasattr(request.app.state, "web"):
        return PlainTextResponse(str(detail), status_code=exc.status_code)
    return render(request, "error.html", {"status": exc.status_code, "detail": detail},
                  status=exc.status_code)


def create_app(pipeline: Pipeline, settings: Settings | None = None, *,
               require_login: bool | None = None, host: str | None = None,
               annotator: str | None = None, secret_key: str | None = None) -> Starlette:
    """The labeling web application over ``pipeline``'s database.

    ``require_login`` defaults to :func:`login_required` for ``host`` (default
    ``web.host``); with it, ``web.users`` must not be empty. Without a login every
    label is saved under ``annotator`` (default: the system user's name). ``host``,
    when loopback, also limits the ``Host`` header to loopback names.
    """
    settings = settings or pipeline.settings
    bind = host or settings.web.host
    if require_login is None:
        require_login = login_required(settings, bind)
    users = Users(settings.web.users)
    if require_login and not users:
        raise ValueError("a login is required but no user is configured: add [[web.users]] "
                         "or MONITOR_WEB_USERS (hashes from `serve --hash-password`)")
    key = secret_key or load_secret_key(settings.web.secret_key, settings.data_dir)
    taxonomy = load_taxonomy()
    domains = tuple(DomainChoice(d.id, d.label, DOMAIN_KEYS[i] if i < len(DOMAIN_KEYS) else "")
                    for i, d in enumerate(taxonomy.domains))
    max_age = int(settings.web.session_hours * 3600)
    allowed_hosts = (LOOPBACK_NAMES | {bind.strip("[]").lower()}) if is_loopback(bind) \
        else None
    middleware = [
        Middleware(SecurityHeaders, allowed_hosts=allowed_hosts),
        Middleware(SessionMiddleware, secret_key=key, session_cookie="monitor_session",
                   max_age=max_age, same_site="strict",
                   https_only=settings.web.secure_cookies),
    ]
    if require_login:
        middleware.append(Middleware(LoginRequired, users=frozenset(
            u.name for u in settings.web.users), max_age=max_age))
    app = Starlette(
        routes=[*routes(), Mount("/static", StaticFiles(directory=HERE / "static"),
                                 name="static")],
        middleware=middleware,
        exception_handlers={HTTPException: _error_page},
    )
    app.state.web = WebContext(
        pipeline=pipeline, settings=settings, users=users, require_login=require_login,
        annotator=(annotator or default_annotator()).strip()[:100] or "annotator",
        domains=domains, env=_environment(), throttle=LoginThrottle())
    return app
