"""``serve``: the labeling web page (``serve --hash-password``: a hash for ``web.users``)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from monitor.cli import app, configure_logging, console, err_console, fail, state
from monitor.pipeline import Pipeline
from storage.db import database_label


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(
        help="Address to bind (default web.host, 127.0.0.1); any but loopback needs "
             "a login.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default web.port, 8470).",
                                             min=1, max=65535)] = None,
    annotator: Annotated[str | None, typer.Option(
        help="Name the labels are saved under when nobody logs in (default: your "
             "system user name).")] = None,
    hash_password: Annotated[bool, typer.Option(
        "--hash-password", help="Read a password (prompted, or one line of standard "
                                "input), print its hash for web.users, and exit.")] = False,
) -> None:
    """Serve the labeling web page: the queue, browsing, the model."""
    from monitor.web import create_app, login_required
    from monitor.web import hash_password as make_hash

    if hash_password:
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
            if getpass.getpass("again: ") != password:
                raise fail("the two passwords differ")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < 8:
            raise fail("use a password of at least 8 characters")
        print(make_hash(password))
        return
    import uvicorn

    st = state(ctx)
    configure_logging(st.verbose)
    settings = st.settings
    bind = host or settings.web.host
    listen = port or settings.web.port
    need_login = login_required(settings, bind)
    if need_login and not settings.web.users:
        raise fail(f"serving on {bind} needs a login, and no user is configured: add "
                   "[[web.users]] to the config file or set MONITOR_WEB_USERS=name:hash "
                   "(hashes from `python -m monitor serve --hash-password`)", code=2)
    pipeline = Pipeline(settings, workers=1)
    with pipeline:
        pipeline.prepare()
        web = create_app(pipeline, settings, host=bind, annotator=annotator)
        shown = f"[{bind}]" if ":" in bind else bind
        console.print(f"labeling page on http://{shown}:{listen}/ "
                      f"({database_label(settings.resolved_database_url)}); "
                      + ("login required" if need_login
                         else f"labels saved as {web.state.web.annotator!r}")
                      + "; Ctrl-C stops it")
        if need_login and not settings.web.secure_cookies:
            err_console.print("note: passwords and the session cookie travel in clear "
                              "text over plain HTTP; put a TLS proxy in front and set "
                              "web.secure_cookies = true", highlight=False)
        uvicorn.run(web, host=bind, port=listen, log_config=None, access_log=st.verbose > 0,
                    server_header=False, proxy_headers=False)
