"""`halab class serve`: the class page as a small Starlette app served by uvicorn.

One thread asks the `Source` for every lab's row every few seconds (the probes over SSH take
their time, and must not run once per browser); each browser holds one server-sent-events
stream and gets the table again whenever what it shows changed. Read-only unless actions are
given, and then each action needs the token printed at start.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from halab.workshop.classpage import pages
from halab.workshop.classpage.model import Action, LabRow, Source, with_states

PUSH_EVERY = 1.0  # how often each stream compares what it showed with the latest rows
GRACE = 5  # seconds open requests get to finish once the server is asked to stop
KEEPALIVE = 15.0  # an SSE comment this often, so proxies and browsers keep the stream


class Feed:
    """The latest rows, refreshed by one thread every `interval` seconds, and the hosts' states
    by another as often: a round of rows waits on SSH to every master, so a halt mid-round
    would show only after it; the states alone come from the provider and never wait on a host.
    """

    def __init__(self, source: Source, interval: float):
        self.source, self.interval = source, interval
        self.error = ""
        self._rows: list[LabRow] = []
        self._rows_asked = 0.0  # when the round that gave `_rows` started
        self._states: dict[str, dict[str, str]] = {}
        self._states_asked = 0.0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name="class-feed", daemon=True),
                         threading.Thread(target=self._state_loop, name="class-states",
                                          daemon=True)]

    @property
    def rows(self) -> list[LabRow]:
        """The last round's rows, with newer host states where the state loop has them."""
        rows, states = self._rows, self._states
        if self._states_asked <= self._rows_asked:
            return rows
        return [with_states(r, states[r.lab]) if r.lab in states else r for r in rows]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def wait_first(self, timeout: float) -> None:
        self._ready.wait(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            asked = time.monotonic()
            try:
                self._rows, self.error = self.source.rows(), ""
                self._rows_asked = asked
            except Exception as exc:  # noqa: BLE001 - shown on the page, the feed goes on
                self.error = f"{type(exc).__name__}: {exc}"
            self._ready.set()
            self._stop.wait(self.interval)

    def _state_loop(self) -> None:
        self._ready.wait()
        while not self._stop.wait(self.interval):
            asked = time.monotonic()
            try:
                self._states = self.source.states()
                self._states_asked = asked
            except Exception:  # noqa: BLE001,S112 - the next round of rows says what failed
                continue


def make_app(source: Source, interval: float = 2.0,
             actions: Mapping[str, Action] | None = None, token: str = "") -> Starlette:
    """The app; with `actions`, POST /action/NAME[/LAB] runs one, given `token`."""
    feed = Feed(source, interval)
    allowed = bool(actions)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        feed.start()
        await run_in_threadpool(feed.wait_first, 60)
        yield
        await run_in_threadpool(feed.stop)

    async def index(_: Request) -> Response:
        return HTMLResponse(pages.index_html(feed.rows, time.time(), allowed, token))

    async def lab(request: Request) -> Response:
        page = await run_in_threadpool(source.page, request.path_params["lab"])
        if page is None:
            return HTMLResponse(f"no lab {request.path_params['lab']!r} here", 404)
        return HTMLResponse(pages.lab_html(page, time.time(), allowed, token))

    async def events(request: Request) -> Response:
        only = request.query_params.get("lab")
        return StreamingResponse(_stream(request, feed, only, allowed, token),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def act(request: Request) -> Response:
        if not actions:
            return HTMLResponse("read-only: start `halab class serve --allow-actions`", 403)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if not secrets.compare_digest(form.get("token", ""), token):
            return HTMLResponse("wrong or missing token (printed by `halab class serve`)", 403)
        name = request.path_params["action"]
        if name not in actions:
            return HTMLResponse(f"no action {name!r}; actions: {', '.join(actions)}", 404)
        labs = [request.path_params["lab"]] if "lab" in request.path_params else [
            r.lab for r in feed.rows]
        said = await run_in_threadpool(actions[name], name, labs, form)
        return HTMLResponse(f"<p>{pages.esc(said)}</p><p><a href='/'>back</a></p>")

    return Starlette(routes=[
        Route("/", index), Route("/lab/{lab}", lab), Route("/events", events),
        Route("/action/{action}", act, methods=["POST"]),
        Route("/action/{action}/{lab}", act, methods=["POST"]),
    ], lifespan=lifespan)


async def _stream(request: Request, feed: Feed, only: str | None, actions: bool,
                  token: str) -> AsyncIterator[str]:
    """Send the table (and scoreboard) whenever they differ from what this browser has."""
    shown: dict[str, str] = {}
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        now = time.time()
        rows = [r for r in feed.rows if only is None or r.lab == only]
        frames = {"labs": pages.rows_html(rows, now, actions, token),
                  "board": pages.board_html(feed.rows, now)}
        changed = {k: v for k, v in frames.items() if shown.get(k) != v}
        if changed:
            shown.update(changed)
            yield pages.events({**changed, "stamp": pages.stamp(now)})
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(PUSH_EVERY)


def serve(source: Source, host: str, port: int, interval: float = 2.0,
          actions: Mapping[str, Action] | None = None, token: str = "") -> None:
    """Serve the page until interrupted (Ctrl-C)."""
    import uvicorn

    # A page still being drawn (it asks the lab over SSH) must not hold Ctrl-C up for long.
    uvicorn.run(make_app(source, interval, actions, token), host=host, port=port,
                log_level="warning", timeout_graceful_shutdown=GRACE)


def new_token() -> str:
    return secrets.token_urlsafe(16)
