"""Process helpers shared by the integration tests, the demo and the load scripts.

Every server we start binds 127.0.0.1 on a free port, runs in its own session (so a
Ctrl-C in a terminal reaches only the script, which then stops its children in order),
and is stopped by PID: SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Union

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago. The kernel hands out ephemeral ports in a
    rotating order, so a port just released is unlikely to be handed out again at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def closed_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on (for 'backend down' tests): connect() gets ECONNREFUSED."""
    return free_port(host)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the process that started it dies (e.g. pytest
    killed by a CI timeout), so no server outlives its test run. Linux-only (prctl).
    Popen must then be called from a long-lived thread (the main thread here): the signal
    fires when the starting *thread* exits."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessExited(RuntimeError):
    pass


def _check_alive(proc: Optional[subprocess.Popen], what: str, log: Optional[Path]) -> None:
    if proc is not None and proc.poll() is not None:
        tail = ""
        if log is not None and Path(log).exists():
            tail = "\n--- last lines of " + str(log) + " ---\n" + tail_text(log, 40)
        raise ProcessExited(f"{what} exited with status {proc.returncode} while starting{tail}")


def wait_port(port: int, host: str = LOOPBACK, timeout: float = 30.0,
              proc: Optional[subprocess.Popen] = None, what: str = "server",
              log: Optional[Path] = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        _check_alive(proc, what, log)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not listen on {host}:{port} within {timeout}s")
        time.sleep(0.05)


def wait_http_ok(url: str, timeout: float = 30.0, proc: Optional[subprocess.Popen] = None,
                 what: str = "server", log: Optional[Path] = None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        _check_alive(proc, what, log)
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                if r.status == 200:
                    return
                last = f"status {r.status}"
        except urllib.error.HTTPError as e:
            last = f"status {e.code}"
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {url} not 200 within {timeout}s (last: {last})")
        time.sleep(0.05)


def stop_pid(proc: Union[subprocess.Popen, int], timeout: float = 10.0,
             sig: int = signal.SIGTERM) -> Optional[int]:
    """Stop one process by PID: `sig`, wait up to `timeout`, then SIGKILL. Returns the exit
    status when the process was our child (Popen), else None."""
    if isinstance(proc, subprocess.Popen):
        if proc.poll() is not None:
            return proc.returncode
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)
    pid = int(proc)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return None


def vm_status(pid: int) -> dict:
    """VmHWM (peak RSS) and VmRSS of a process, in bytes, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def tail_text(path: Union[str, Path], lines: int = 40) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def wait_until(pred, timeout: float = 10.0, what: str = "condition",
               interval: float = 0.05) -> None:
    """Polls `pred` until it returns true; AssertionError naming `what` after `timeout` s.
    Exceptions from `pred` count as "not yet" (a server still starting)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception as e:  # noqa: BLE001 - reported below if it never succeeds
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))
