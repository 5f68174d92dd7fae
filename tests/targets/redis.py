"""Redis targets: the machine's server on 127.0.0.1:6379 and a private 3-master cluster.

Every test gets its own key prefix (``?prefix=t_<hex>``), and its keys are
deleted afterwards. The cluster is started lazily, once per test process
(pytest-xdist workers each get their own), from the machine's
``redis-server`` on free loopback ports in a temporary directory, with
``--save '' --appendonly no``; it is torn down when the process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from . import Target

REDIS_URL = os.environ.get("OMNISESSION_REDIS_URL", "redis://127.0.0.1:6379/0")
_START_TIMEOUT = 30.0


def new_prefix() -> str:
    """A key prefix no other test uses."""
    return f"t_{uuid.uuid4().hex}"


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key of ``prefix`` (tests only: SCAN is fine here, never in the store)."""
    from redis.asyncio import Redis, RedisCluster

    if url.startswith("redis+cluster://"):
        host, _, port = url.split("://", 1)[1].split(",")[0].partition(":")
        cluster = RedisCluster(host=host, port=int(port))
        try:
            await cluster.initialize()
            for node in cluster.get_primaries():
                names = [
                    name
                    async for name in cluster.scan_iter(
                        match=f"{prefix}:*", count=1000, target_nodes=node
                    )
                ]
                for name in names:
                    await cluster.delete(name)
        finally:
            await cluster.aclose()
        return
    client = Redis.from_url(url)
    try:
        names = [name async for name in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(names), 500):
            await client.delete(*names[start : start + 500])
    finally:
        await client.aclose()


@asynccontextmanager
async def _redis_url() -> AsyncIterator[str]:
    prefix = new_prefix()
    base = REDIS_URL + ("&" if "?" in REDIS_URL else "?")
    try:
        yield f"{base}prefix={prefix}"
    finally:
        await delete_prefix(REDIS_URL, prefix)


# -- a private Redis Cluster per test process ---------------------------------------------


def _free_port() -> int:
    """A loopback port that is free, and whose cluster bus port (+10000) is free too."""
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
    raise RuntimeError("no free loopback port pair for a cluster node")


@dataclass
class LocalCluster:
    """Three ``redis-server --cluster-enabled yes`` processes with all slots assigned."""

    directory: str
    ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        for port in self.ports:
            log = open(os.path.join(self.directory, f"{port}.log"), "wb")  # noqa: SIM115
            self.processes.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        os.path.join(self.directory, f"nodes-{port}.conf"),
                        "--cluster-node-timeout",
                        "5000",
                        "--dir",
                        self.directory,
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()
        deadline = time.monotonic() + _START_TIMEOUT
        for port in self.ports:
            self._wait(lambda p=port: self._cli(p, "PING") == "PONG", deadline, f"node {port}")
        subprocess.run(
            ["redis-cli", "--cluster", "create"]
            + [f"127.0.0.1:{port}" for port in self.ports]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=_START_TIMEOUT,
        )
        for port in self.ports:
            self._wait(lambda p=port: self._ready(p), deadline, f"cluster_state:ok on {port}")

    def _ready(self, port: int) -> bool:
        info = self._cli(port, "CLUSTER", "INFO")
        return "cluster_state:ok" in info and f"cluster_known_nodes:{len(self.ports)}" in info

    def _wait(self, check: object, deadline: float, what: str) -> None:
        assert callable(check)
        while not check():
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"redis-server exited early; see {self.directory}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}; see {self.directory}")
            time.sleep(0.05)  # polling a condition, not waiting blindly

    @staticmethod
    def _cli(port: int, *command: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(port), *command], capture_output=True, timeout=10
        )
        return done.stdout.decode(errors="replace").strip()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


_cluster: LocalCluster | None = None
_cluster_lock = threading.Lock()


def local_cluster() -> LocalCluster:
    """This process's cluster, started on first use and stopped at exit."""
    global _cluster
    with _cluster_lock:
        if _cluster is None:
            if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
                pytest.skip("redis-server and redis-cli are needed to start a Redis Cluster")
            directory = tempfile.mkdtemp(prefix="omnisession-cluster-")
            cluster = LocalCluster(directory, [_free_port() for _ in range(3)])
            atexit.register(cluster.stop)
            try:
                cluster.start()
            except BaseException:
                cluster.stop()
                raise
            _cluster = cluster
        return _cluster


@asynccontextmanager
async def _cluster_url() -> AsyncIterator[str]:
    cluster = local_cluster()
    prefix = new_prefix()
    try:
        yield f"{cluster.url}?prefix={prefix}"
    finally:
        await delete_prefix(cluster.url, prefix)


TARGETS = [
    Target("redis", _redis_url, marks=(pytest.mark.redis,)),
    Target("redis-cluster", _cluster_url, marks=(pytest.mark.redis,)),
]
