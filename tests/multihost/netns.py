"""Several hosts on one machine, for tests: Linux network namespaces joined by a switch.

``Network(n)`` creates ``n`` hosts, each a network namespace with ``lo`` up and one interface, ``eth0``, at
``10.213.0.(i+1)/24``; the other end of each host's veth pair is a port of a bridge that lives in a namespace
of its own (the switch), so nothing is added to the machine's own namespace (its interfaces, routes and
firewall stay as they are) and the private addresses are seen only inside. Each host's name
(``host-a``, ``host-b``, ...) resolves on every host through ``/etc/netns/<namespace>/hosts`` (``ip netns
exec`` mounts it over ``/etc/hosts``), and its commands run in their own UTS namespace with that hostname
(``unshare --uts``, then ``hostname``), so ``socket.gethostname()`` and ``getfqdn()`` give the host's name
and address, as on a real machine. The hosts share the file system, as a shared file system would give;
each command also gets a mount namespace of its own, where given folders can be made read-only for it.

A host runs commands (``run``: waits, with a timeout, output captured; ``start``: in the background, output
to a file), can be cut off from the switch and put back (``cut``/``reconnect``: its switch port down or up,
as a pulled cable), and its processes killed (``kill``). ``close()`` kills every process in every namespace
and deletes the namespaces (their interfaces go with them); it runs also at interpreter exit, and the
namespaces of an earlier run whose process is gone are removed when a new ``Network`` is created.

Needs root and iproute2 (``ip``) and util-linux (``unshare``): :func:`unavailable` says why not.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["Host", "Network", "unavailable", "SUBNET"]

SUBNET = "10.213.0"
PREFIX = "mfc"  # namespace names: mfc<pid>-<run>-<role>; the pid tells whether the run that made them is alive
_NAME = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]+-\w+$")
ETC_NETNS = Path("/etc/netns")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def unavailable() -> str | None:
    """Why network namespaces cannot be made here (None: they can): not root, no ``ip``, no ``unshare``,
    or the kernel refused a trial namespace."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    for tool in ("ip", "unshare", "hostname"):
        if shutil.which(tool) is None:
            return f"no `{tool}` command on this machine"
    name = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:6]}-probe"
    made = _ip("netns", "add", name, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


def _pids(namespace: str) -> list[int]:
    done = _ip("netns", "pids", namespace, check=False)
    return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []


def _kill_namespace(namespace: str) -> None:
    """SIGKILL every process in ``namespace`` until none is left (children started meanwhile included)."""
    for _ in range(20):
        pids = _pids(namespace)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _delete_namespace(namespace: str) -> None:
    _kill_namespace(namespace)
    _ip("netns", "del", namespace, check=False)
    shutil.rmtree(ETC_NETNS / namespace, ignore_errors=True)


def clean_stale() -> list[str]:
    """Delete the namespaces (and their /etc/netns folders) left by earlier runs whose process is gone."""
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    names = {line.split()[0] for line in listed if line.strip()}
    if ETC_NETNS.is_dir():
        names |= {p.name for p in ETC_NETNS.iterdir()}
    stale = []
    for name in sorted(names):
        m = _NAME.match(name)
        if m and not Path("/proc", m.group(1)).exists():
            _delete_namespace(name)
            stale.append(name)
    return stale


class Host:
    """One host: a network namespace with ``eth0`` at ``address``; commands run with ``hostname`` = ``name``."""

    def __init__(self, network: Network, index: int) -> None:
        self.network = network
        self.index = index
        self.name = f"host-{chr(ord('a') + index)}"
        self.namespace = f"{network.prefix}-{self.name[5:]}"
        self.address = f"{SUBNET}.{index + 1}"
        self.port = f"p{index}"  # its port on the switch
        self.procs: list[subprocess.Popen[bytes]] = []

    def __repr__(self) -> str:
        return f"Host({self.name}, {self.address}, namespace {self.namespace})"

    def command(self, argv: Sequence[str], readonly: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
        """``argv`` as run on this host: in its network namespace, in a UTS namespace named after it, in a
        mount namespace of its own where the folders ``readonly`` are mounted read-only."""
        unshare = ["unshare", "--uts", "--mount", "--propagation", "private"]
        wrap = (
            'name=$1 n=$2; shift 2; hostname "$name" || exit 1; while [ "$n" -gt 0 ]; do '
            'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 1; shift; n=$((n - 1)); done; exec "$@"'
        )
        paths = [str(p) for p in readonly]
        return ["ip", "netns", "exec", self.namespace, *unshare, "sh", "-c", wrap, "sh", self.name, str(len(paths)),
                *paths, *argv]  # fmt: skip

    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        return {**os.environ, **(env or {}), "HOSTNAME": self.name}

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        readonly: Sequence[str | os.PathLike[str]] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` here and wait at most ``timeout`` seconds (then its process group is killed and
        ``subprocess.TimeoutExpired`` raised); stdout and stderr captured as text. ``readonly``: folders this
        command sees read-only."""
        proc = subprocess.Popen(
            self.command(argv, readonly), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self._env(env), cwd=cwd, start_new_session=True,
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def start(
        self,
        argv: Sequence[str],
        *,
        log: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        readonly: Sequence[str | os.PathLike[str]] = (),
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` here in the background, in a process group of its own; stdout and stderr go to
        the file ``log``; ``readonly``: folders it sees read-only. :meth:`kill` or :meth:`Network.close` ends it."""
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                self.command(argv, readonly), stdout=out, stderr=subprocess.STDOUT, env=self._env(env), cwd=cwd,
                start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def cut(self) -> None:
        """Cut this host off the network (its switch port down: packets to and from it are lost, as with a
        pulled cable; its own interface stays up, so its processes notice only by timeouts)."""
        self.network.switch_ip("link", "set", self.port, "down")

    def reconnect(self) -> None:
        """Put this host back on the network."""
        self.network.switch_ip("link", "set", self.port, "up")

    def kill(self) -> None:
        """SIGKILL every process on this host (those started here and any they left behind)."""
        for proc in self.procs:
            _kill_group(proc)
        _kill_namespace(self.namespace)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def processes(self) -> list[int]:
        """The ids of the processes running on this host now."""
        return _pids(self.namespace)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class Network:
    """``n`` hosts on one switch (see the module's docstring). Use as a context manager or call :meth:`close`."""

    def __init__(self, n: int) -> None:
        if not 1 <= n <= 26:
            raise ValueError(f"Network: 1 to 26 hosts, got {n}")
        clean_stale()
        self.prefix = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.switch = f"{self.prefix}-sw"
        self.hosts: list[Host] = []
        self._closed = False
        atexit.register(self.close)
        try:
            self._build(n)
        except BaseException:
            self.close()
            raise

    def _build(self, n: int) -> None:
        _ip("netns", "add", self.switch)
        self.switch_ip("link", "add", "br0", "type", "bridge")
        self.switch_ip("link", "set", "br0", "up")
        hosts = [Host(self, i) for i in range(n)]
        names = "".join(f"{h.address} {h.name}\n" for h in hosts)
        for host in hosts:
            self.hosts.append(host)
            folder = ETC_NETNS / host.namespace
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "hosts").write_text(f"127.0.0.1 localhost\n{names}")
            _ip("netns", "add", host.namespace)
            _ip("-n", self.switch, "link", "add", host.port, "type", "veth", "peer", "name", "eth0",
                "netns", host.namespace)  # fmt: skip
            self.switch_ip("link", "set", host.port, "master", "br0")
            self.switch_ip("link", "set", host.port, "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")

    def switch_ip(self, *args: str) -> None:
        """Run ``ip ARGS`` in the switch's namespace."""
        _ip("-n", self.switch, *args)

    def close(self) -> None:
        """Kill every process on every host and delete the namespaces (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for host in self.hosts:
            for proc in host.procs:
                _kill_group(proc)
        for name in [h.namespace for h in self.hosts] + [self.switch]:
            _delete_namespace(name)
        for host in self.hosts:
            for proc in host.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        atexit.unregister(self.close)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
