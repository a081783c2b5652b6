"""One NATS connection, driven by one event-loop thread, behind a synchronous facade.

Why a loop thread: ``nats-py`` is asyncio-only, while the product's camera loop, the identity
memory and the runner are plain threads. A ``BrokerClient`` owns one asyncio loop on one daemon
thread and the one connection on it; threads call into it with :meth:`BrokerClient.call`, which
waits on a future with a timeout. The connection's own machinery (pings, reconnects, the pending
buffer, subscriptions) keeps running on that loop whatever the callers do, and long-lived work
(a publisher's flusher, lease renewal, KV watches) runs there as tasks. One loop per process, not
one per caller: a NATS connection multiplexes everything and must not be shared across loops.

Connecting: ``broker.connect_attempts`` tries, ``broker.connect_timeout_s`` each, then one
:class:`BrokerUnavailableError` line with the URL (never a secret) and the last reason. Once
connected, the client reconnects by itself forever, ``broker.reconnect_wait_s`` apart, replaying
its subscriptions; :attr:`BrokerClient.generation` counts the connections so that work which
must be redone on a new connection (watches) can tell.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import ssl
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reidcam.broker.errors import BrokerError, BrokerUnavailableError
from reidcam.capture.urls import MASK, redact_text, redact_url
from reidcam.config.schema import BrokerConfig
from reidcam.core.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.js import JetStreamContext

log = logging.getLogger(__name__)
T = TypeVar("T")

_INSTALL_HINT = "the broker needs the nats-py client: pip install 'reidcam[cluster]'"


@dataclass(frozen=True)
class BrokerStatus:
    """What the status page may show about the connection: no secret in any field.

    ``state``: 'idle' (never connected), 'connecting', 'connected', 'reconnecting' or 'closed'.
    ``reconnects``: connections re-established after a loss. ``last_error``: redacted, or None.
    """

    url: str
    state: str
    reconnects: int
    disconnected_for_s: float | None
    last_error: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _import_nats() -> Any:
    try:
        import nats
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise DependencyError(_INSTALL_HINT) from exc
    return nats


def tls_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """The TLS context of ``broker.tls`` (None without it and without a tls:// URL).

    Raises:
        ConfigError: a configured CA, certificate or key file is missing or unreadable.
    """
    if config.tls is None and not (config.url or "").startswith("tls://"):
        return None
    tls = config.tls
    for label, path in (
        ("tls.ca_file", tls and tls.ca_file),
        ("tls.cert_file", tls and tls.cert_file),
        ("tls.key_file", tls and tls.key_file),
    ):
        if path and not Path(path).is_file():
            raise ConfigError(f"broker.{label}: no such file {path}")
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls and tls.ca_file else None)
        if tls and tls.cert_file and tls.key_file:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"broker.tls: cannot load the TLS files: {exc}") from exc
    return ctx


def connect_options(config: BrokerConfig) -> dict[str, Any]:
    """Keyword arguments of ``nats.connect`` for ``config`` (holds the secrets: never log it)."""
    if config.url is None:
        raise ConfigError("broker.url is not set: the distributed mode needs a NATS broker")
    opts: dict[str, Any] = {
        "servers": [config.url],
        "name": config.name,
        "connect_timeout": config.connect_timeout_s,
        "reconnect_time_wait": config.reconnect_wait_s,
        # Bounds the first connection only (nats-py tries 1 + this many times); set to -1, for
        # ever, once connected (``BrokerClient._connect``).
        "allow_reconnect": True,
        "max_reconnect_attempts": config.connect_attempts - 1,
    }
    if config.user is not None and config.password is not None:
        opts["user"] = config.user
        opts["password"] = config.password.get_secret_value()
    if config.token is not None:
        opts["token"] = config.token.get_secret_value()
    if config.creds_file is not None:
        if not Path(config.creds_file).is_file():
            raise ConfigError(f"broker.creds_file: no such file {config.creds_file}")
        if importlib.util.find_spec("nkeys") is None:
            raise DependencyError("broker.creds_file needs the nkeys package: pip install 'nats-py[nkeys]'")
        opts["user_credentials"] = str(config.creds_file)
    ctx = tls_context(config)
    if ctx is not None:
        opts["tls"] = ctx
    return opts


class BrokerClient:
    """The process's one broker connection (see the module docstring for the threading model).

    Use ``with BrokerClient(cfg) as client:`` or :meth:`connect` / :meth:`close`.
    """

    def __init__(self, config: BrokerConfig) -> None:
        if config.url is None:
            raise ConfigError("broker.url is not set: the distributed mode needs a NATS broker")
        self.config = config
        self.url = redact_url(config.url)
        self._secrets = [
            s.get_secret_value()
            for s in (config.password, config.token)
            if s is not None and s.get_secret_value()
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._connected: asyncio.Event | None = None
        self._state = "idle"
        self._reconnects = 0
        self._lost_at: float | None = None
        self._last_error: str | None = None
        self._connect_errors: list[str] = []
        self._lock = threading.Lock()
        self.generation = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def connect(self) -> BrokerClient:
        """Start the loop thread and connect, trying ``broker.connect_attempts`` times.

        Raises:
            BrokerUnavailableError: one line naming the (redacted) URL and the last reason.
            ConfigError: a credentials or TLS file is missing.
            DependencyError: nats-py is not installed.
        """
        if self._loop is not None:
            raise BrokerError("this BrokerClient is connected already")
        nats = _import_nats()
        opts = connect_options(self.config)
        self._start_loop()
        try:
            self.call(self._connect(nats, opts), timeout=None)
        except BaseException:
            self._stop_loop()
            raise
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Drain and close the connection, then stop the loop thread. Safe to call twice."""
        if self._loop is None:
            return
        if self._nc is not None:
            self._state = "closing"
            try:
                self.call(self._close_nc(), timeout=timeout_s)
            except Exception as exc:  # closing must not raise on a dead broker
                log.debug("closing the broker connection: %s", self.scrub(str(exc)))
        self._stop_loop()
        self._state = "closed"

    def __enter__(self) -> BrokerClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calling into the loop ---------------------------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = -1.0) -> T:
        """Run ``coro`` on the broker loop and wait for its result (from any other thread).

        ``timeout`` -1 = ``broker.request_timeout_s`` plus a second; None = no limit.
        """
        fut = self.submit(coro)
        limit = self.config.request_timeout_s + 1.0 if timeout == -1.0 else timeout
        try:
            return fut.result(limit)
        except FutureTimeout:
            fut.cancel()
            raise

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coro`` on the broker loop; returns a thread-safe future."""
        loop = self._loop
        if loop is None or not loop.is_running():
            coro.close()
            raise BrokerError("the broker client is not running: call connect() first")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BrokerClient.call from the broker loop itself would deadlock: await instead")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run a plain callable on the loop (wake a task from another thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    # -- state -------------------------------------------------------------------------------

    @property
    def nc(self) -> NatsClient:
        if self._nc is None:
            raise BrokerError("the broker client is not connected: call connect() first")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise BrokerError("the broker client is not connected: call connect() first")
        return self._js

    @property
    def connected(self) -> bool:
        return self._state == "connected"

    async def wait_connected(self, timeout_s: float | None = None) -> bool:
        """(On the loop.) Wait until the connection is up; False on timeout."""
        assert self._connected is not None
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    def status(self) -> BrokerStatus:
        with self._lock:
            lost = None if self._lost_at is None else time.monotonic() - self._lost_at
            return BrokerStatus(self.url, self._state, self._reconnects, lost, self._last_error)

    def scrub(self, text: str) -> str:
        """``text`` with URLs' passwords and this client's secrets masked."""
        text = redact_text(text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    # -- internals (on the loop) -------------------------------------------------------------

    def _start_loop(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="reidcam-broker", daemon=True)
        self._thread.start()
        ready.wait()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def cancel_tasks() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(cancel_tasks(), loop).result(5.0)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        self._loop = self._thread = None

    async def _connect(self, nats: Any, opts: dict[str, Any]) -> None:
        self._connected = asyncio.Event()
        self._state = "connecting"
        attempts = self.config.connect_attempts
        try:
            nc: NatsClient = await nats.connect(
                **opts,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                closed_cb=self._on_closed,
            )
        except Exception as exc:
            self._state = "idle"
            reason = failure_reason(self._connect_errors, self.scrub(_reason(exc)))
            self._last_error = reason
            raise BrokerUnavailableError(
                f"cannot reach the NATS broker at {self.url} after {attempts} attempts: {reason}"
            ) from None
        # The bounded first connection is done: from now on reconnect forever (nats-py reads
        # this option at each loss; there is no public setter).
        nc.options["max_reconnect_attempts"] = -1
        self._nc = nc
        self._js = nc.jetstream(timeout=self.config.request_timeout_s)
        self._state = "connected"
        self.generation += 1
        self._connected.set()
        log.info("connected to the NATS broker at %s", self.url)

    async def _close_nc(self) -> None:
        nc = self._nc
        if nc is not None and not nc.is_closed:
            await nc.close()

    async def _on_error(self, exc: Exception) -> None:
        with self._lock:
            self._last_error = self.scrub(_reason(exc))
            if self._state == "connecting":
                self._connect_errors.append(self._last_error)
        log.debug("broker %s: %s", self.url, self._last_error)

    async def _on_disconnected(self) -> None:
        if self._state != "connected":
            return
        with self._lock:
            self._state = "reconnecting"
            self._lost_at = time.monotonic()
        if self._connected is not None:
            self._connected.clear()
        log.warning(
            "lost the NATS broker at %s; reconnecting every %.1f s", self.url, self.config.reconnect_wait_s
        )

    async def _on_reconnected(self) -> None:
        with self._lock:
            self._state = "connected"
            self._reconnects += 1
            self._lost_at = None
            self.generation += 1
        if self._connected is not None:
            self._connected.set()
        log.info("reconnected to the NATS broker at %s", self.url)

    async def _on_closed(self) -> None:
        with self._lock:
            if self._state != "connecting":
                self._state = "closed"
        if self._connected is not None:
            self._connected.clear()


def failure_reason(errors: list[str], fallback: str) -> str:
    """The reason a first connection failed, from its attempts' errors (oldest first).

    nats-py itself ends with "no servers available"; what the server said (``nats:
    'Authorization Violation'``) wins over the connection reset that follows it, else the last.
    """
    said = [e for e in errors if e.startswith("nats:")]
    return (said or errors or [fallback])[-1]


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for a connection failure."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        text = "timed out"
    return " ".join(text.split())


async def cancel_and_wait(task: asyncio.Task[Any], period_s: float = 0.2) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again while it runs on.

    Python 3.11's ``asyncio.wait_for`` (inside nats-py's waits) can swallow a cancellation that
    lands as its inner wait completes; the task then runs on and a plain cancel-and-gather waits
    for ever (a registry watch's stop hung so in CI, with updates arriving).
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=period_s)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
