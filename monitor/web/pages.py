"""The pages: the labeling queue, one item, browse, the model, login.

Every page that changes something is a POST form carrying the session's CSRF token
(:func:`checked_form`); a redirect goes only to a path of this site
(:func:`~monitor.web.auth.safe_next`). Labels are read and written through the
pipeline's labeling unit (:mod:`monitor.pipeline.labels`), as the terminal labeler
does, so both offer the same queue and store the same labels.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from classifiers.errors import ClassifierError
from classifiers.persistence import read_sidecar
from monitor.config import Settings
from monitor.errors import LabelingError
from monitor.pipeline import Pipeline
from monitor.pipeline.labels import LabelView, QueueFilter
from monitor.web.auth import LoginThrottle, Users, csrf_ok, new_token, safe_next
from monitor.web.text import highlight, paragraphs
from storage import classifications as tags
from storage import labeling as label_store
from storage import models_registry
from storage import repository as repo
from storage.db import session_scope
from storage.errors import NotFoundError
from storage.models import Label

__all__ = ["DOMAIN_KEYS", "DomainChoice", "WebContext", "routes"]

#: The keys that toggle the domains, in the taxonomy's order.
DOMAIN_KEYS = "1234567890qwedf"
PAGE_SIZE = 50
#: At most this many skipped items are remembered (in the session cookie).
MAX_SKIPPED = 100


@dataclass(frozen=True, slots=True)
class DomainChoice:
    id: str
    label: str
    key: str


@dataclass(frozen=True)
class WebContext:
    """What every page needs; kept on ``app.state.web``."""

    pipeline: Pipeline
    settings: Settings
    users: Users
    require_login: bool
    annotator: str
    domains: tuple[DomainChoice, ...]
    env: jinja2.Environment
    throttle: LoginThrottle


def _ctx(request: Request) -> WebContext:
    ctx = request.app.state.web
    assert isinstance(ctx, WebContext)
    return ctx


def _who(request: Request) -> str:
    ctx = _ctx(request)
    if ctx.require_login:
        return str(request.session.get("user", ""))
    return ctx.annotator


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = new_token()
        request.session["csrf"] = token
    return token


def _flash(request: Request, text: str, kind: str = "ok") -> None:
    held = list(request.session.get("flash", []))[-4:]
    request.session["flash"] = [*held, [kind, text[:500]]]


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def render(request: Request, name: str, context: Mapping[str, Any],
           status: int = 200) -> HTMLResponse:
    ctx = _ctx(request)
    flashes = request.session.pop("flash", [])
    html = ctx.env.get_template(name).render(
        csrf=_csrf(request), who=_who(request), require_login=ctx.require_login,
        flashes=[(str(k), str(t)) for k, t in flashes if k in ("ok", "error")],
        path=request.url.path, here=_here(request), **context)
    return HTMLResponse(html, status_code=status)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after checking its CSRF token (and any real Origin): 403 else."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc.lower() != request.headers.get(
            "host", "").lower():
        raise HTTPException(403, "This form was sent from another site.")
    form = await request.form(max_files=0, max_fields=200)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        raise HTTPException(403, "The form's security token is missing or out of date: "
                                 "reload the page and try again.")
    return form


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


def _opt(value: str | None, *, limit: int = 100) -> str | None:
    value = (value or "").strip()
    return value[:limit] if value else None


def _parse_since(value: str | None) -> datetime | None:
    """``2d``, ``12h``, ``30m`` ago or an ISO date; ValueError for anything else."""
    if not value:
        return None
    match = re.fullmatch(r"\s*(\d{1,5})\s*([dhm])\s*", value)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}
        return datetime.now(UTC) - delta[unit]
    when = datetime.fromisoformat(value.strip())
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _countries(text: str) -> list[str]:
    return list(dict.fromkeys(c for c in re.split(r"[\s,;]+", text.upper()) if c))


# --------------------------------------------------------------------------- login


async def login_page(request: Request) -> Response:
    ctx = _ctx(request)
    target = safe_next(request.query_params.get("next"), "/queue")
    if not ctx.require_login:
        return _redirect(target)
    return render(request, "login.html", {"next": target, "error": "", "name": ""})


async def login_submit(request: Request) -> Response:
    ctx = _ctx(request)
    form = await checked_form(request)
    target = safe_next(str(form.get("next", "")), "/queue")
    if not ctx.require_login:
        return _redirect(target)
    client = request.client.host if request.client else "?"
    name = str(form.get("name", "")).strip()[:100]
    password = str(form.get("password", ""))[:1000]
    if ctx.throttle.blocked(client):
        return render(request, "login.html", {
            "next": target, "name": name,
            "error": "Too many failed logins from this address: wait a few minutes."},
            status=429)
    if not name or not password or not await run_in_threadpool(ctx.users.check, name,
                                                                password):
        ctx.throttle.failed(client)
        return render(request, "login.html", {
            "next": target, "name": name, "error": "Wrong name or password."}, status=401)
    ctx.throttle.succeeded(client)
    request.session.clear()
    request.session.update({"user": name, "login_at": int(time.time()), "csrf": new_token()})
    return _redirect(target)


async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return _redirect("/login" if _ctx(request).require_login else "/queue")


# --------------------------------------------------------------------------- labeling


def _queue_filter(request: Request) -> tuple[QueueFilter, dict[str, str]]:
    q = request.query_params
    raw = {k: (q.get(k) or "").strip()[:100] for k in
           ("source", "language", "country", "domain", "since")}
    try:
        since = _parse_since(raw["since"])
    except ValueError:
        _flash(request, f"Not a time: {raw['since']!r} (use 2d, 12h or a date).", "error")
        since, raw["since"] = None, ""
    country = raw["country"].upper() or None
    return QueueFilter(source=raw["source"] or None, language=raw["language"] or None,
                       since=since, country=country, domain=raw["domain"] or None), raw


async def home(request: Request) -> Response:
    return _redirect("/queue")


async def queue_page(request: Request) -> Response:
    ctx = _ctx(request)
    filters, raw = _queue_filter(request)
    skipped = [int(i) for i in request.session.get("skip", []) if isinstance(i, int)]
    entries = await run_in_threadpool(ctx.pipeline.label_queue, filters=filters,
                                      limit=len(skipped) + 51)
    left = [e for e in entries if e.candidate.item_id not in skipped]
    base = {"filters": raw, "skipped": len(skipped), "sources": await _source_names(ctx),
            "domains": ctx.domains}
    if not left:
        return render(request, "queue_empty.html", base)
    entry = left[0]
    try:
        view = await run_in_threadpool(ctx.pipeline.label_view, entry.candidate.item_id)
    except LabelingError as exc:
        raise HTTPException(404, str(exc)) from None
    return render(request, "label.html", {
        **base, **_label_context(request, view), "reasons": entry.reasons,
        "waiting": f"{len(left) - 1}{'+' if len(entries) > len(skipped) + 50 else ''}",
        "back": _here(request), "in_queue": True})


async def item_page(request: Request) -> Response:
    ctx = _ctx(request)
    item_id = int(request.path_params["item_id"])
    try:
        view = await run_in_threadpool(ctx.pipeline.label_view, item_id)
    except LabelingError as exc:
        raise HTTPException(404, str(exc)) from None
    back = safe_next(request.query_params.get("back"), "/browse")
    return render(request, "label.html", {
        **_label_context(request, view), "reasons": (), "waiting": "", "back": back,
        "in_queue": False, "filters": {}, "skipped": 0, "sources": []})


def _label_context(request: Request, view: LabelView, *, submitted: Mapping[str, Any] | None
                   = None, error: str = "") -> dict[str, Any]:
    ctx = _ctx(request)
    who = _who(request)
    s = view.suggestion
    own = next((r for r in reversed(view.history) if r.current and r.annotator == who), None)
    if submitted is not None:
        values = dict(submitted)
        origin = "what you sent"
    elif own is not None:
        values = {"relevant": own.relevant, "countries": list(own.countries),
                  "domains": list(own.domains)}
        origin = f"your label of {own.created_at:%d %b %Y %H:%M}" if own.created_at \
            else "your label"
    elif s is not None:
        values = {"relevant": s.relevant, "countries": list(s.countries),
                  "domains": list(s.domains)}
        origin = f"the model's suggestion ({s.model_version})"
    else:
        values = {"relevant": False, "countries": [], "domains": []}
        origin = "nothing: the item has no suggestion yet"
    evidence = s.evidence if s is not None else {}
    return {
        "view": view, "suggestion": s, "values": values, "prefilled_from": origin,
        "title_html": highlight(view.title or "(no title)", evidence),
        "paragraphs": paragraphs(view.text or "", evidence),
        "domains": ctx.domains, "error": error,
        "country_evidence": {c: evidence.get(c, []) for c in (s.countries if s else ())},
    }


async def save_label(request: Request) -> Response:
    ctx = _ctx(request)
    item_id = int(request.path_params["item_id"])
    form = await checked_form(request)
    back = safe_next(str(form.get("back", "")), "/queue")
    try:
        view = await run_in_threadpool(ctx.pipeline.label_view, item_id)
    except LabelingError as exc:
        raise HTTPException(404, str(exc)) from None
    s = view.suggestion
    action = str(form.get("action", "save"))
    relevant = form.get("relevant") == "1"
    countries = _countries(str(form.get("countries", "")))
    domains = [str(d) for d in form.getlist("domain")]
    if action == "accept":
        if s is None:
            return _label_error(request, view, back, "There is no suggestion to accept.",
                                relevant, countries, domains)
        relevant, countries, domains = s.relevant, list(s.countries), list(s.domains)
    elif action == "reject":
        relevant, countries, domains = False, [], []
    elif action != "save":
        raise HTTPException(400, "unknown action")
    who = _who(request)
    try:
        label_id = await run_in_threadpool(
            lambda: ctx.pipeline.save_label(
                item_id, annotator=who, relevant=relevant, countries=countries,
                domains=domains, suggested_by=s.model_version if s is not None else None))
    except LabelingError as exc:
        return _label_error(request, view, back, str(exc), relevant, countries, domains)
    verdict = "relevant" if relevant else "not relevant"
    detail = ", ".join([*countries, *domains]) if relevant else ""
    _flash(request, f"Saved label {label_id}: item {item_id} {verdict}"
                    f"{f' ({detail})' if detail else ''}. Press u to take it back.")
    return _redirect(back)


def _label_error(request: Request, view: LabelView, back: str, message: str,
                 relevant: bool, countries: Sequence[str], domains: Sequence[str]) -> Response:
    submitted = {"relevant": relevant, "countries": list(countries), "domains": list(domains)}
    in_queue = urlsplit(back).path == "/queue"
    return render(request, "label.html", {
        **_label_context(request, view, submitted=submitted, error=message),
        "reasons": (), "waiting": "", "back": back, "in_queue": in_queue, "filters": {},
        "skipped": 0, "sources": []}, status=400)


async def skip(request: Request) -> Response:
    form = await checked_form(request)
    back = safe_next(str(form.get("back", "")), "/queue")
    try:
        item_id = int(str(form.get("item_id", "")))
    except ValueError:
        raise HTTPException(400, "no item to skip") from None
    held = [i for i in request.session.get("skip", []) if isinstance(i, int) and i != item_id]
    request.session["skip"] = [*held, item_id][-MAX_SKIPPED:]
    return _redirect(back)


async def unskip(request: Request) -> Response:
    form = await checked_form(request)
    request.session.pop("skip", None)
    return _redirect(safe_next(str(form.get("back", "")), "/queue"))


async def undo(request: Request) -> Response:
    ctx = _ctx(request)
    form = await checked_form(request)
    back = safe_next(str(form.get("back", "")), "/queue")
    who = _who(request)
    item_id = await run_in_threadpool(lambda: ctx.pipeline.undo_last_label(annotator=who))
    if item_id is None:
        _flash(request, "You have no label to take back.", "error")
        return _redirect(back)
    request.session["skip"] = [i for i in request.session.get("skip", []) if i != item_id]
    _flash(request, f"Took back your last label (item {item_id}).")
    return _redirect(f"/items/{item_id}?{urlencode({'back': back})}")


# --------------------------------------------------------------------------- browse


@dataclass(frozen=True, slots=True)
class BrowseRow:
    id: int
    title: str
    url: str
    language: str | None
    created_at: datetime | None
    status: str
    sources: tuple[str, ...]
    relevant: bool | None
    relevance: float | None
    countries: tuple[str, ...]
    domains: tuple[str, ...]
    labels: tuple[str, ...]  # "name: relevant" of the current labels


async def _source_names(ctx: WebContext) -> list[str]:
    def names() -> list[str]:
        with session_scope(ctx.pipeline.engine) as session:
            return sorted(s.name for s in repo.list_sources(session=session))
    return await run_in_threadpool(names)


async def browse(request: Request) -> Response:
    ctx = _ctx(request)
    q = request.query_params
    raw = {k: (q.get(k) or "").strip()[:200] for k in ("search", "source", "language", "since")}
    try:
        page = max(1, min(10_000, int(q.get("page") or 1)))
    except ValueError:
        page = 1
    error = ""
    try:
        since = _parse_since(raw["since"])
    except ValueError:
        since, error = None, f"Not a time: {raw['since']!r} (use 2d, 12h or a date)."

    def load() -> tuple[list[BrowseRow], bool]:
        with session_scope(ctx.pipeline.engine) as session:
            items = repo.list_items(session=session, since=since,
                                    source=raw["source"] or None,
                                    language=raw["language"] or None,
                                    search=raw["search"] or None, limit=PAGE_SIZE + 1,
                                    offset=(page - 1) * PAGE_SIZE)
            more = len(items) > PAGE_SIZE
            items = items[:PAGE_SIZE]
            ids = [i.id for i in items if i.id is not None]
            names = label_store.source_names(ids, session=session)
            rows = []
            for item in items:
                assert item.id is not None
                try:
                    c = tags.get_classification(item.id, session=session)
                except NotFoundError:
                    c = None
                labels = [x for x in label_store.label_history(item.id, session=session)
                          if x.superseded_at is None]
                rows.append(BrowseRow(
                    id=item.id, title=item.title, url=item.url, language=item.language,
                    created_at=item.created_at, status=item.status,
                    sources=names.get(item.id, ()),
                    relevant=c.relevant if c else None, relevance=c.relevance if c else None,
                    countries=tuple(c.countries) if c else (),
                    domains=tuple(c.domains) if c else (),
                    labels=tuple(_label_word(x) for x in labels)))
            return rows, more

    rows, more = await run_in_threadpool(load)
    query = {k: v for k, v in raw.items() if v}
    return render(request, "browse.html", {
        "rows": rows, "filters": raw, "page": page, "error": error,
        "sources": await _source_names(ctx),
        "prev_url": f"/browse?{urlencode({**query, 'page': page - 1})}" if page > 1 else "",
        "next_url": f"/browse?{urlencode({**query, 'page': page + 1})}" if more else ""})


def _label_word(label: Label) -> str:
    return f"{label.annotator}: {'relevant' if label.relevant else 'not relevant'}"


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Figure:
    """How the model's tags compare with the human labels for one label."""

    label: str
    humans: int  # labels saying yes
    model: int  # of the same items, the model said yes
    agree: int  # both yes
    precision: float | None
    recall: float | None
    f1: float | None


def _figure(label: str, pairs: Sequence[tuple[bool, bool]]) -> Figure:
    humans = sum(h for h, _ in pairs)
    model = sum(m for _, m in pairs)
    both = sum(h and m for h, m in pairs)
    p = both / model if model else None
    r = both / humans if humans else None
    f = 2 * p * r / (p + r) if p is not None and r is not None and p + r else None
    return Figure(label, humans, model, both, p, r, f)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += _flatten(value, f"{name} / ")
        elif isinstance(value, float):
            out.append((name, f"{value:.3f}"))
        else:
            out.append((name, str(value)))
    return out


def model_history(session: Session) -> list[dict[str, Any]]:
    """The trained models (``python -m monitor model list``), newest first."""
    return models_registry.history(session=session, limit=30)


async def model_page(request: Request) -> Response:
    ctx = _ctx(request)

    def load() -> dict[str, Any]:
        try:
            sidecar: dict[str, Any] | None = read_sidecar(ctx.settings.model_dir)
            model_error = ""
        except (ClassifierError, OSError) as exc:
            sidecar, model_error = None, str(exc)
        with session_scope(ctx.pipeline.engine) as session:
            by_item = label_store.labels_by_item(session=session)
            counts = tags.classification_counts(session=session)
            tagged: dict[int, Any] = {}
            for item_id in by_item:
                with contextlib.suppress(NotFoundError):
                    tagged[item_id] = tags.get_classification(item_id, session=session)
            history = model_history(session)
        labels = [x for rows in by_item.values() for x in rows]
        annotators = Counter(x.annotator for x in labels)
        changed = Counter(x.annotator for x in labels if x.changed)
        suggested = Counter(x.annotator for x in labels if x.suggested_by)
        pairs_rel: list[tuple[bool, bool]] = []
        pairs_dom: dict[str, list[tuple[bool, bool]]] = {d.id: [] for d in ctx.domains}
        for x in labels:
            c = tagged.get(x.item_id)
            if c is None:
                continue
            pairs_rel.append((x.relevant, c.relevant))
            for d in pairs_dom:
                pairs_dom[d].append((d in x.domains, d in c.domains))
        figures = [_figure("relevant", pairs_rel)] + [
            _figure(d, pairs) for d, pairs in pairs_dom.items()]
        domain_counts = Counter(d for x in labels for d in x.domains)
        country_counts = Counter(c for x in labels for c in x.countries)
        return {
            "sidecar": sidecar, "model_error": model_error,
            "metrics": _flatten(sidecar.get("metrics", {})) if sidecar else [],
            "training": _flatten(sidecar.get("training", {})) if sidecar else [],
            "counts": counts, "labels_total": len(labels), "items_labeled": len(by_item),
            "relevant_labels": sum(x.relevant for x in labels),
            "annotators": [(a, n, suggested[a], changed[a])
                           for a, n in annotators.most_common()],
            "figures": figures, "compared": len(pairs_rel),
            "domain_counts": domain_counts, "countries": country_counts.most_common(30),
            "history": history, "domains": ctx.domains,
        }

    return render(request, "model.html", await run_in_threadpool(load))


def routes() -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/queue", queue_page, methods=["GET"]),
        Route("/queue/skip", skip, methods=["POST"]),
        Route("/queue/unskip", unskip, methods=["POST"]),
        Route("/items/{item_id:int}", item_page, methods=["GET"]),
        Route("/items/{item_id:int}/label", save_label, methods=["POST"]),
        Route("/undo", undo, methods=["POST"]),
        Route("/browse", browse, methods=["GET"]),
        Route("/model", model_page, methods=["GET"]),
    ]
