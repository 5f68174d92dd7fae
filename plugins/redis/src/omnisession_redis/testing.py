"""Test helpers: an isolated namespace per test, and private servers to break.

For running tests (and the conformance suite) on a shared Redis:

* :func:`isolated_url` yields the URL with a fresh ``?prefix=`` and deletes
  every key of that prefix afterwards, on a single node or on every primary of
  a cluster;
* :func:`delete_prefix` is that cleanup on its own (``SCAN`` is fine here; the
  store itself never scans a keyspace except in ``list_apps``).

For tests that must not touch a shared server (faults, configurations):

* :class:`LocalServer` starts ``redis-server`` on a free loopback port with the
  settings you give, and can stall it (SIGSTOP) and let it resume (SIGCONT);
* :class:`LocalCluster` starts N such servers as a Redis Cluster (all slots
  assigned, no replicas); :func:`local_cluster` is one per process, started on
  first use and stopped at exit.

Needs ``redis-server`` and ``redis-cli`` on the PATH for the private servers.
"""

from __future__ import annotations

import atexit
import functools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .keys import glob_escape

__all__ = [
    "LocalCluster",
    "LocalServer",
    "delete_prefix",
    "free_port",
    "isolated_url",
    "local_cluster",
    "new_prefix",
    "servers_available",
]

START_TIMEOUT = 30.0
_DELETE_BATCH = 500


def new_prefix() -> str:
    """A key prefix no other test uses."""
    return f"t_{uuid.uuid4().hex}"


def _with_option(url: str, name: str, value: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{name}={value}"


def _first_node(url: str) -> tuple[str, int]:
    hosts = urlsplit(url).netloc.rpartition("@")[2]
    host, _, port = hosts.split(",")[0].rpartition(":")
    return host.strip("[]"), int(port or 6379)


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` on the server (every primary of a cluster) of ``url``."""
    from redis.asyncio import Redis, RedisCluster

    pattern = f"{glob_escape(prefix)}:*"
    base = url.split("?", 1)[0]
    if urlsplit(base).scheme.endswith("+cluster"):
        host, port = _first_node(base)
        cluster = RedisCluster(host=host, port=port)
        try:
            await cluster.initialize()
            for node in cluster.get_primaries():
                names = [
                    name
                    async for name in cluster.scan_iter(
                        match=pattern, count=1000, target_nodes=node
                    )
                ]
                for name in names:  # keys of several slots: one DEL each
                    await cluster.delete(name)
        finally:
            await cluster.aclose()
        return
    client = Redis.from_url(base)
    try:
        names = [name async for name in client.scan_iter(match=pattern, count=1000)]
        for start in range(0, len(names), _DELETE_BATCH):
            await client.delete(*names[start : start + _DELETE_BATCH])
    finally:
        await client.aclose()


@asynccontextmanager
async def isolated_url(url: str) -> AsyncIterator[str]:
    """``url`` with a fresh ``?prefix=``; every key of that prefix is deleted afterwards."""
    prefix = new_prefix()
    try:
        yield _with_option(url, "prefix", prefix)
    finally:
        await delete_prefix(url, prefix)


# -- private servers ------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port pair for a redis-server")


def _cli(port: int, *command: str, password: str | None = None) -> str:
    auth = ["--no-auth-warning", "-a", password] if password else []
    done = subprocess.run(
        ["redis-cli", "-p", str(port), *auth, *command], capture_output=True, timeout=10
    )
    return done.stdout.decode(errors="replace").strip()


def _wait(check: Callable[[], bool], deadline: float, what: str, alive: Callable[[], bool]) -> None:
    while not check():
        if not alive():
            raise RuntimeError(f"redis-server exited early while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling a condition, not waiting blindly


@dataclass
class LocalServer:
    """One ``redis-server`` of our own on a free loopback port, in a temporary directory.

    ``settings`` are extra ``--name value`` pairs (``{"requirepass": "s3cret"}``,
    ``{"maxmemory": "1mb"}``); ``password`` is the one PING needs to see it start.
    """

    settings: dict[str, str] = field(default_factory=dict)
    password: str | None = None
    port: int = field(default_factory=free_port)
    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="omnisession-redis-"))
    owns_directory: bool = True
    """Remove ``directory`` on :meth:`stop` (a cluster's servers share one it removes)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        base = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": self.directory,
            "save": "",
            "appendonly": "no",
            "daemonize": "no",
            **self.settings,
        }
        command = ["redis-server"]
        for name, value in base.items():  # "EVALSHA ''" is two words: split like a shell
            command += [f"--{name}", *(shlex.split(value) if value.strip() else [value])]
        return command

    def start(self) -> LocalServer:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not on the PATH")
        log = open(os.path.join(self.directory, f"redis-{self.port}.log"), "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        try:
            _wait(
                lambda: self.cli("PING") == "PONG",
                time.monotonic() + START_TIMEOUT,
                f"redis-server on port {self.port}",
                self.alive,
            )
        except BaseException:
            self.stop()  # never leave a server behind (it runs in a session of its own)
            raise
        return self

    def restart(self) -> None:
        """Shut the server down (it saves what its settings say it persists) and start it."""
        assert self.process is not None
        self.cli("SHUTDOWN")
        self.process.wait(timeout=START_TIMEOUT)
        self.start()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cli(self, *command: str) -> str:
        """Run ``redis-cli`` against this server; its output."""
        return _cli(self.port, *command, password=self.password)

    def pause(self) -> None:
        """Stall the server (SIGSTOP): connections stay open, nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a stalled server go on (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class LocalCluster:
    """``size`` servers of our own as a Redis Cluster: all slots assigned, no replicas."""

    size: int = 3
    settings: dict[str, str] = field(default_factory=dict)
    servers: list[LocalServer] = field(default_factory=list)
    directory: str = ""

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> LocalCluster:
        self.directory = directory = tempfile.mkdtemp(prefix="omnisession-cluster-")
        for _ in range(self.size):
            port = free_port()
            settings = {
                "cluster-enabled": "yes",
                "cluster-config-file": os.path.join(directory, f"nodes-{port}.conf"),
                "cluster-node-timeout": "5000",
                **self.settings,
            }
            server = LocalServer(settings, port=port, directory=directory, owns_directory=False)
            self.servers.append(server)
            server.start()
        if self.size == 1:
            self.servers[0].cli("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        else:
            subprocess.run(
                ["redis-cli", "--cluster", "create"]
                + [f"127.0.0.1:{port}" for port in self.ports]
                + ["--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=START_TIMEOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        for server in self.servers:
            _wait(
                functools.partial(self._ready, server),
                deadline,
                f"cluster_state:ok on {server.port}",
                server.alive,
            )
        return self

    def _ready(self, server: LocalServer) -> bool:
        info = server.cli("CLUSTER", "INFO")
        return "cluster_state:ok" in info and f"cluster_known_nodes:{self.size}" in info

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


_cluster: LocalCluster | None = None
_cluster_lock = threading.Lock()


def local_cluster(size: int = 3) -> LocalCluster:
    """This process's cluster, started on first use and stopped at exit."""
    global _cluster
    with _cluster_lock:
        if _cluster is None:
            cluster = LocalCluster(size)
            atexit.register(cluster.stop)
            try:
                cluster.start()
            except BaseException:
                cluster.stop()
                raise
            _cluster = cluster
        return _cluster


def servers_available(tools: Sequence[str] = ("redis-server", "redis-cli")) -> bool:
    """True when the private servers can be started here."""
    return all(shutil.which(tool) for tool in tools)
