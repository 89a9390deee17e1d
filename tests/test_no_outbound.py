"""``vigil demo`` connects to nothing but this machine.

The demo (on generated clips, without ../shared) runs under ``strace -f`` while a client uses it for
about 30 s; every address given to connect(), sendto(), sendmsg() or sendmmsg() by any of
its processes (server, recorder, simulator, FFmpeg, their threads) must be loopback
(127.0.0.0/8, ::1) or a local socket (AF_UNIX, AF_NETLINK). A DNS query, a telemetry
upload or an update check would show up here as a non-local address. Its processes must
also have onnxruntime's telemetry switched off in their environment.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, require_service, wait_until
from vigil.demo import DEMO_CLIP_FOLDERS

pytestmark = pytest.mark.slow

EXERCISE_S = 30
TRACED = "connect,sendto,sendmsg,sendmmsg,execve,clone,clone3,fork,vfork"
LOCAL_FAMILIES = {"AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"}
# One strace line: "PID rest"; a call may be split into "<unfinished ...>" and "resumed".
LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^(?:<\.\.\. )?(\w+)(?:\(| resumed>)")
SOCKADDR = re.compile(r"sa_family=(AF_\w+)([^}]*)")
IPV4 = re.compile(r'inet_addr\("([^"]+)"\)')
IPV6 = re.compile(r'inet_pton\(AF_INET6, "([^"]+)"')
PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
RESULT = re.compile(r"= (-?\d+)(?: .*)?$")
EXEC_ARGS = re.compile(r"execve\(\"[^\"]*\", \[(.*?)\]")


@dataclass(frozen=True)
class Outbound:
    """A non-local destination one process gave the kernel."""

    pid: int
    process: str
    syscall: str
    address: str

    def __str__(self) -> str:
        return f"{self.syscall} to {self.address} by pid {self.pid} ({self.process})"


def _is_local(family: str, detail: str) -> tuple[bool, str]:
    """Whether a sockaddr is loopback or a local socket, and how to name it."""
    if family in LOCAL_FAMILIES:
        return True, family
    port = m.group(1) if (m := PORT.search(detail)) else "?"
    if family == "AF_INET" and (m := IPV4.search(detail)):
        address = ipaddress.ip_address(m.group(1))
        return address.is_loopback, f"{address}:{port}"
    if family == "AF_INET6" and (m := IPV6.search(detail)):
        address6 = ipaddress.IPv6Address(m.group(1))
        mapped = address6.ipv4_mapped
        loopback = address6.is_loopback or (mapped is not None and mapped.is_loopback)
        return loopback, f"[{address6}]:{port}"
    return False, f"{family} {detail.strip(', ')}"


def outbound_calls(trace: str) -> Iterator[Outbound]:
    """Every connect/sendto/sendmsg/sendmmsg in an ``strace -f`` log whose address is not
    this machine's, named by the program its process (or thread's process) ran."""
    program: dict[int, str] = {}
    parent: dict[int, int] = {}
    found: list[tuple[int, str, str]] = []
    for raw in trace.splitlines():
        if not (line := LINE.match(raw)) or not (call := CALL.match(line.group(2))):
            continue
        pid, text, syscall = int(line.group(1)), line.group(2), call.group(1)
        if syscall == "execve" and (args := EXEC_ARGS.search(text)):
            program[pid] = args.group(1).replace('"', "")[:120]
        elif syscall in ("clone", "clone3", "fork", "vfork"):
            if (result := RESULT.search(text)) and int(result.group(1)) > 0:
                parent[int(result.group(1))] = pid
        elif syscall in ("connect", "sendto", "sendmsg", "sendmmsg"):
            for family, detail in SOCKADDR.findall(text):
                local, address = _is_local(family, detail)
                if not local:
                    found.append((pid, syscall, address))

    def name(pid: int) -> str:
        seen = set()
        while pid not in program and pid in parent and pid not in seen:
            seen.add(pid)
            pid = parent[pid]
        return program.get(pid, "unknown program")

    for pid, syscall, address in found:
        yield Outbound(pid, name(pid), syscall, address)


def test_trace_parser_finds_non_local_addresses() -> None:
    trace = "\n".join(
        [
            '100 execve("/usr/bin/python3", ["python3", "-m", "vigil", "server"], 0x1) = 0',
            "100 clone3({flags=CLONE_VM|CLONE_THREAD}, 88) = 101",
            "101 connect(3, {sa_family=AF_INET, sin_port=htons(5432), "
            'sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
            '101 connect(4, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = -1 ENOENT',
            "101 connect(5, {sa_family=AF_INET, sin_port=htons(53), "
            'sin_addr=inet_addr("10.0.0.2")}, 16 <unfinished ...>',
            "101 <... connect resumed>) = 0",
            '101 sendto(6, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(443), '
            'sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), '
            "sin6_scope_id=0}, 28) = 1",
            '101 sendto(7, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(80), '
            'inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr)}, 28) = 1',
            '101 sendto(8, "x", 1, MSG_NOSIGNAL, NULL, 0) = 1',
            "102 sendmsg(9, {msg_name={sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, "
            "msg_namelen=12}, 0) = 20",
            "102 sendmsg(9, {msg_name={sa_family=AF_PACKET, sll_protocol=htons(ETH_P_ALL)}, "
            "msg_namelen=20}, 0) = 20",
        ]
    )
    found = [str(o) for o in outbound_calls(trace)]
    assert found == [
        "connect to 10.0.0.2:53 by pid 101 (python3, -m, vigil, server)",
        "sendto to [2001:db8::1]:443 by pid 101 (python3, -m, vigil, server)",
        "sendmsg to AF_PACKET sll_protocol=htons(ETH_P_ALL) by pid 102 (unknown program)",
    ]


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def _strace_usable() -> str | None:
    """Why strace cannot trace here (missing, or ptrace refused), or None."""
    if shutil.which("strace") is None:
        return "strace is not installed (scripts/setup.sh installs it)"
    probe = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=none", "true"], capture_output=True, timeout=30
    )
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.decode(errors='replace').strip()}"
    return None


def traced(trace_file: Path, argv: list[str]) -> list[str]:
    """``argv`` under strace, following every process and thread it starts. Only the traced
    calls stop a process (seccomp-bpf), so the demo runs near its normal speed."""
    return [
        *("strace", "-f", "-qq", "--seccomp-bpf", "-s", "48", "-e", f"trace={TRACED}"),
        *("-e", "signal=none", "-o", str(trace_file), "--", *argv),
    ]


# A thread of a child process "connects" a UDP socket (no packet leaves: UDP connect only
# sets the default destination) to a documentation address.
UDP_PROBE = """
import socket, subprocess, sys, threading
def probe():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))
if sys.argv[1:] == ["child"]:
    t = threading.Thread(target=probe); t.start(); t.join()
else:
    subprocess.run([sys.executable, __file__, "child"], check=True)
"""


def test_strace_sees_a_thread_of_a_child_process(tmp_path: Path) -> None:
    """The tracing itself: a connect() in a thread of a grandchild is caught and named."""
    if why := _strace_usable():
        require_service("strace", why)
    script = tmp_path / "probe.py"
    script.write_text(UDP_PROBE)
    trace_file = tmp_path / "strace.log"
    subprocess.run(traced(trace_file, [sys.executable, str(script)]), check=True, timeout=60)
    found = list(outbound_calls(trace_file.read_text()))
    assert [(o.syscall, o.address) for o in found] == [("connect", "192.0.2.1:9")]
    assert "child" in found[0].process, found[0]


def test_demo_connects_only_to_this_machine(
    tmp_path: Path, h264_clip: Path, h264_aac_clip: Path
) -> None:
    if why := _strace_usable():
        require_service("strace", why)
    port, rtsp_port = free_port(), free_port()
    while rtsp_port in (port, port + 1):  # the demo's recorder listens on port + 1
        rtsp_port = free_port()
    # The session's generated clips as the demo's media (no ../shared, and quicker than the
    # demo's own 720p patterns).
    media = tmp_path / "media"
    (media / DEMO_CLIP_FOLDERS[0]).mkdir(parents=True)
    for name, clip in (("street", h264_aac_clip), ("square", h264_clip)):
        shutil.copy(clip, media / DEMO_CLIP_FOLDERS[0] / f"{name}.mp4")
    trace_file = tmp_path / "strace.log"
    # The demo must switch telemetry off itself: this test process imported vigil, which
    # set it here, so it is taken out of what the demo inherits.
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env |= {"VIGIL_DEMO_MEDIA": str(media), "COLUMNS": "200"}
    log = (tmp_path / "demo.log").open("w+")
    strace = subprocess.Popen(
        traced(
            trace_file,
            [
                *(sys.executable, "-m", "vigil", "demo", "--port", str(port)),
                *("--rtsp-port", str(rtsp_port), "--data-dir", str(tmp_path / "data")),
            ],
        ),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def output() -> str:
        return (tmp_path / "demo.log").read_text()

    base = f"http://127.0.0.1:{port}"
    demo_pid: int | None = None
    try:
        wait_until(
            lambda: "Vigil demo is running" in output() or strace.poll() is not None,
            240,
            "the demo's welcome line",
            output,
        )
        assert strace.poll() is None, f"the demo stopped:\n{output()}"
        assert "recording started" in output(), "the demo's cameras stream while traced"
        demo_pid = next(p for p in _descendants(strace.pid) if " demo " in f"{_cmdline(p)} ")
        # A client uses it a little: the login page, its assets, the public API.
        deadline = time.monotonic() + EXERCISE_S
        with httpx.Client(base_url=base, timeout=10) as client:
            while time.monotonic() < deadline:
                assert client.get("/").status_code == 200
                assert client.get("/static/js/app.js").status_code == 200
                assert client.get("/api/health").json()["status"] == "ok"
                assert client.get("/api/auth/status").status_code == 200
                time.sleep(2)
        processes = {p: _cmdline(p) for p in _descendants(demo_pid)}
        roles = {
            role: pid
            for pid, cmd in processes.items()
            for role in ("server", "recorder")
            if cmd.endswith(f"vigil {role}")
        }
        assert set(roles) == {"server", "recorder"}, processes
        unset = [
            f"{pid} ({cmd})"
            for pid, cmd in processes.items()
            if cmd and _environ(pid).get("ORT_DISABLE_TELEMETRY") != "1"
        ]
        assert not unset, f"ORT_DISABLE_TELEMETRY=1 missing in: {unset}"
    finally:
        if demo_pid is not None:
            os.kill(demo_pid, signal.SIGINT)
        else:
            strace.send_signal(signal.SIGTERM)
        try:
            strace.wait(90)
        except subprocess.TimeoutExpired:
            strace.kill()
            strace.wait(10)
    trace = trace_file.read_text(errors="replace")
    assert "connect(" in trace, "the trace holds the demo's connections"
    assert re.search(r'inet_addr\("127\.0\.0\.1"\)', trace), "loopback connections were traced"
    outbound = [str(o) for o in outbound_calls(trace)]
    assert not outbound, "the demo reached beyond this machine:\n" + "\n".join(outbound[:50])
