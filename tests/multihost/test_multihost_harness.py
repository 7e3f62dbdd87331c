"""The network-namespace harness itself: hosts with their own names and addresses that reach each other by
name, a host cut off and put back, its processes killed, and nothing left behind after a test, also when
the process that made the hosts was killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from netns import ETC_NETNS, Network, clean_stale, unavailable

pytestmark = [pytest.mark.multihost, pytest.mark.subprocess]

HERE = Path(__file__).resolve().parent

SERVE = textwrap.dedent("""
    import socket, sys
    s = socket.create_server((sys.argv[1], 5000))
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        c.sendall(socket.gethostname().encode())
        c.close()
""")
ASK = textwrap.dedent("""
    import socket, sys
    try:
        with socket.create_connection((sys.argv[1], 5000), timeout=float(sys.argv[2])) as c:
            print(socket.gethostname(), socket.getfqdn(), c.recv(100).decode())
    except OSError as e:
        print("unreachable", type(e).__name__)
""")


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def serve(host, tmp_path):
    proc = host.start([sys.executable, "-c", SERVE, host.address], log=tmp_path / f"{host.name}.log")
    deadline = time.monotonic() + 20
    while "listening" not in (tmp_path / f"{host.name}.log").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / f"{host.name}.log").read_text()
        time.sleep(0.05)
    return proc


def ask(host, name: str, timeout: float = 5.0) -> str:
    done = host.run([sys.executable, "-c", ASK, name, str(timeout)], timeout=timeout + 20)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_hosts_have_their_names_and_addresses_and_reach_each_other_by_name(hosts, tmp_path):
    a, b = hosts(2)
    assert (a.name, a.address, b.name, b.address) == ("host-a", "10.213.0.1", "host-b", "10.213.0.2")
    links = a.run(["ip", "-o", "link"]).stdout
    assert sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()) == ["eth0", "lo"]
    assert "10.213.0.1/24" in a.run(["ip", "-o", "addr", "show", "eth0"]).stdout
    serve(b, tmp_path)
    assert ask(a, "host-b") == "host-a host-a host-b"
    assert socket.gethostname() != "host-a"  # the machine's own name is untouched


def test_a_host_cut_off_is_unreachable_until_reconnected_and_its_processes_can_be_killed(hosts, tmp_path):
    a, b = hosts(2)
    server = serve(b, tmp_path)
    b.cut()
    assert ask(a, b.address, timeout=1.0).startswith("unreachable")
    b.reconnect()
    assert ask(a, b.address).endswith("host-b")
    assert b.processes()
    b.kill()
    assert server.poll() is not None and b.processes() == []
    assert ask(a, b.address, timeout=2.0).startswith("unreachable")


def test_a_folder_can_be_read_only_on_one_host(hosts, tmp_path):
    a, b = hosts(2)
    touch = [sys.executable, "-c", "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text('x')"]
    assert a.run([*touch, str(tmp_path / "from-a")]).returncode == 0
    denied = b.run([*touch, str(tmp_path / "from-b")], readonly=[tmp_path])
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert (tmp_path / "from-a").exists() and not (tmp_path / "from-b").exists()
    assert b.run([*touch, str(tmp_path / "from-b")]).returncode == 0  # the machine's own mounts are untouched


def test_a_command_that_overruns_its_timeout_is_killed(hosts):
    (a,) = hosts(1)
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        a.run(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - start < 10 and a.processes() == []


def test_everything_is_removed_after_close_and_after_a_killed_run():
    with Network(2) as net:
        made = {h.namespace for h in net.hosts} | {net.switch}
        assert made <= namespaces()
        net.hosts[0].start(["sleep", "60"], log=os.devnull)
    assert not made & namespaces() and not any((ETC_NETNS / name).exists() for name in made)
    # a run killed before it could clean up: the next Network removes what it left
    code = (
        f"import sys, time; sys.path.insert(0, {str(HERE)!r}); from netns import Network; n = Network(1); "
        "print(n.switch, n.hosts[0].namespace, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        left = set(proc.stdout.readline().split())
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(left) == 2 and left <= namespaces()
    assert left <= set(clean_stale())
    assert not left & namespaces() and not any((ETC_NETNS / name).exists() for name in left)


def test_unavailable_says_why_not_as_another_user(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert unavailable() == "network namespaces need root (ip netns add)"
