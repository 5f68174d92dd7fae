"""Running driver calls: the command timeout, the error mapping, retries, scripts.

Every hook of the store runs its I/O through :class:`Calls`:

* the whole call, waiting for a connection or a cluster permit included, is
  bounded by ``command_timeout`` (``asyncio.timeout``; redis-py drops a
  connection cancelled mid-command, so no reply is ever read by the wrong
  caller), and past it raises ``BackendUnavailable``;
* driver errors become omnisession errors through the one mapping of
  :mod:`omnisession_redis.errors`;
* reads are retried once on a transient error (they are idempotent); writes
  never are: a script whose reply was lost may have committed;
* scripts are sent by SHA, with ``EVAL`` on ``NOSCRIPT``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.exceptions as rex
from omnisession.errors import BackendError, BackendUnavailable

from .clients import LoopClients
from .connect import Connection
from .encoding import Arg
from .errors import is_driver_error, is_transient, timed_out, translate
from .limits import PROBE_SIZE, diagnose_reset
from .scripts import Script

__all__ = ["Calls", "largest", "script_call"]

T = TypeVar("T")


def largest(args: Sequence[Arg]) -> int:
    """The size in bytes of the largest argument (what ``proto-max-bulk-len`` limits)."""
    return max((_size(arg) for arg in args), default=0)


def _size(arg: Arg) -> int:
    if isinstance(arg, bytes) or arg.isascii():  # isascii() is O(1) on CPython
        return len(arg)
    return len(arg.encode("utf-8", "surrogatepass"))


def script_call(
    script: Script, keys: Sequence[str], args: Sequence[Arg]
) -> Callable[[Any], Awaitable[Any]]:
    """A call running ``script`` on ``keys`` with ``args`` (see :meth:`Calls.eval`)."""

    async def call(client: Any) -> Any:
        return await Calls.eval(client, script, keys, args)

    return call


class Calls:
    """The store's way to the server: one client per event loop, bounded and mapped calls."""

    def __init__(self, connection: Connection, *, timeout: float, prefix: str) -> None:
        self._clients = LoopClients(
            connection.connect, connection.cluster, connection.max_operations
        )
        self.cluster = connection.cluster
        self.location = connection.location
        self.timeout = timeout
        self._prefix = prefix

    async def client(self) -> Any:
        """The running loop's client, ready for commands."""
        return await self._clients.get()

    async def aclose(self) -> None:
        await self._clients.aclose(self.timeout)

    def translate(self, exc: BaseException, doing: str, *, write: bool = False) -> BackendError:
        """The omnisession error for driver error ``exc`` (see :mod:`.errors`)."""
        return translate(exc, doing, location=self.location, prefix=self._prefix, write=write)

    async def read(self, doing: str, call: Callable[[Any], Awaitable[T]]) -> T:
        """An idempotent call, retried once on a transient error, within the bound."""
        return await self._bounded(doing, lambda: self.idempotent(call), write=False, sent=())

    async def write(
        self, doing: str, call: Callable[[Any], Awaitable[T]], *, sent: Sequence[Arg] = ()
    ) -> T:
        """A call that must not be repeated, within the bound. ``sent``: the arguments it
        sends, measured only if it fails (for ``EntryTooLarge``)."""

        async def once() -> T:
            return await call(await self._clients.get())

        return await self._bounded(doing, once, write=True, sent=sent)

    async def idempotent(self, call: Callable[[Any], Awaitable[T]]) -> T:
        """``call(client)``, once more on a fresh connection after a transient error."""
        try:
            return await call(await self._clients.get())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not (is_driver_error(exc) and is_transient(exc)):
                raise
        return await call(await self._clients.get())

    @staticmethod
    async def eval(client: Any, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run ``script`` by SHA; on NOSCRIPT (not committed: unknown script) send it whole."""
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except rex.NoScriptError:
            return await client.eval(script.source, len(keys), *keys, *args)

    async def _bounded(
        self, doing: str, body: Callable[[], Awaitable[T]], *, write: bool, sent: Sequence[Arg]
    ) -> T:
        try:
            async with asyncio.timeout(self.timeout) as bound, self._clients.permit():
                try:
                    return await body()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not is_driver_error(exc):
                        raise
                    size = largest(sent)
                    error = translate(
                        exc, doing, location=self.location, prefix=self._prefix,
                        write=write, size=size,
                    )  # fmt: skip
                    if size >= PROBE_SIZE and isinstance(error, BackendUnavailable):
                        diagnosed = await diagnose_reset(
                            await self._clients.get(), doing, size,
                            location=self.location, cluster=self.cluster,
                        )  # fmt: skip
                        error = diagnosed or error
                    raise error from exc
        except TimeoutError as exc:
            if bound.expired():
                raise timed_out(doing, self.timeout, location=self.location, write=write) from exc
            raise
