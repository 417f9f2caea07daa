"""Start build/yatagarasu with a YAML config written to a temp dir; stop it by PID.

A Proxy checks on stop that it did not die early, that a sanitizer said nothing, and that
none of the registered secrets appear in its logs (OBS-3 / HTTP-2: secrets never logged).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import yaml

import yg_procs

SANITIZER_RE = re.compile(rb"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          rb"ThreadSanitizer|AddressSanitizer:DEADLYSIGNAL")

# Strings that must never appear in a proxy's output: S3 secret keys, client tokens...
# Tests and fixtures add to it; every Proxy checks its logs against it when it stops.
KNOWN_SECRETS: List[str] = []


def register_secret(s: str) -> str:
    if s and s not in KNOWN_SECRETS:
        KNOWN_SECRETS.append(s)
    return s


def s3_block(endpoint: str, bucket: str, access_key: str, secret_key: str,
             region: str = "us-east-1", timeout: int = 5, **extra) -> dict:
    block = {"bucket": bucket, "region": region, "endpoint": endpoint,
             "access_key": access_key, "secret_key": secret_key, "timeout": timeout}
    block.update(extra)
    return block


def bucket_block(name: str, prefix: str, s3: dict, **extra) -> dict:
    b = {"name": name, "path_prefix": prefix, "s3": s3}
    b.update(extra)
    return b


def config_doc(port: int, buckets: List[dict], server: Optional[dict] = None,
               logging: Optional[dict] = None, extra: Optional[dict] = None) -> dict:
    srv = {"address": "127.0.0.1", "port": port, "threads": 2, "request_timeout": 30}
    srv.update(server or {})
    doc = {"server": srv, "logging": {"level": "info", "format": "json"}, "buckets": buckets}
    if logging:
        doc["logging"].update(logging)
    doc.update(extra or {})
    return doc


@dataclass
class Proxy:
    binary: Path
    workdir: Path
    name: str = "proxy"
    port: int = 0
    host: str = "127.0.0.1"
    proc: Optional[subprocess.Popen] = None
    config_path: Optional[Path] = None
    log_path: Optional[Path] = None
    stdout_path: Optional[Path] = None
    exit_status: Optional[int] = None
    env: Dict[str, str] = field(default_factory=dict)
    # Set by send_signal(SIGTERM/SIGINT): the exit that follows was asked for by the test, so
    # stop() does not report it as "exited on its own" (it still checks status and logs).
    exit_requested: bool = False
    # Where start() waits for /health: the main port, or (a TLS main listener) metrics.port,
    # which stays plain HTTP.
    health_port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def write_config(self, doc_or_text) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"{self.name}.yaml"
        text = doc_or_text if isinstance(doc_or_text, str) else yaml.safe_dump(
            doc_or_text, sort_keys=False, allow_unicode=True)
        self.config_path.write_text(text)
        return self.config_path

    def start(self, timeout: float = 20.0) -> "Proxy":
        assert self.config_path is not None
        self.log_path = self.workdir / f"{self.name}.stderr.log"
        self.stdout_path = self.workdir / f"{self.name}.stdout.log"
        env = os.environ.copy()
        env.update(self.env)
        with open(self.log_path, "ab") as err, open(self.stdout_path, "ab") as out:
            self.proc = subprocess.Popen([str(self.binary), "--config", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=self.workdir, env=env, start_new_session=True,
                                         preexec_fn=yg_procs.die_with_parent)
        try:
            health = f"http://{self.host}:{self.health_port or self.port}/health"
            yg_procs.wait_http_ok(health, timeout=timeout, proc=self.proc,
                                  what=f"yatagarasu ({self.config_path})", log=self.log_path)
        except BaseException:
            self.stop(check=False)
            raise
        return self

    def send_signal(self, sig: int) -> None:
        """For lifecycle tests (SIGHUP reload, SIGTERM drain), by PID."""
        assert self.proc is not None
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.exit_requested = True
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> Optional[int]:
        """The exit status, or None if still running after `timeout` s."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> bytes:
        """Everything the proxy printed so far. Logging is asynchronous (a request's warning
        reaches the file a moment after its response), so while the proxy runs this waits until
        the files stop growing for 150 ms (at most 2 s)."""
        if self.alive():
            def sizes():
                return tuple(p.stat().st_size if p is not None and p.exists() else 0
                             for p in (self.log_path, self.stdout_path))
            deadline = time.monotonic() + 2.0
            last = sizes()
            while time.monotonic() < deadline:
                time.sleep(0.15)
                now = sizes()
                if now == last:
                    break
                last = now
        data = b""
        for p in (self.log_path, self.stdout_path):
            if p is not None and p.exists():
                data += p.read_bytes()
        return data

    def log_tail(self, lines: int = 40) -> str:
        return yg_procs.tail_text(self.log_path, lines) if self.log_path else ""

    def vm_status(self) -> dict:
        return yg_procs.vm_status(self.pid)

    def stop(self, check: bool = True, timeout: float = 15.0) -> List[str]:
        """SIGTERM by PID, wait, SIGKILL after `timeout`. Returns problems found (and raises
        AssertionError with them when `check`)."""
        problems = []
        if self.proc is None:
            return problems
        died_early = self.proc.poll() is not None and not self.exit_requested
        if died_early:
            problems.append(f"yatagarasu exited on its own with status {self.proc.returncode} "
                            "before the test ended")
        self.exit_status = yg_procs.stop_pid(self.proc, timeout=timeout, sig=signal.SIGTERM)
        if not died_early and self.exit_status not in (0, -signal.SIGTERM):
            problems.append(f"yatagarasu exited with status {self.exit_status} on SIGTERM")
        self.proc = None
        logs = self.logs()
        if SANITIZER_RE.search(logs):
            problems.append("sanitizer report in the proxy log")
        for s in KNOWN_SECRETS:
            if s.encode() in logs:
                problems.append(f"a secret ({s[:3]}...) appears in the proxy's log")
        if problems and check:
            raise AssertionError("; ".join(problems) + f"\n--- {self.log_path} (tail) ---\n"
                                 + self.log_tail(60))
        return problems


def run_cli(binary: Path, *args: str, timeout: float = 20.0, cwd: Optional[Path] = None,
            env: Optional[Dict[str, str]] = None, unset: tuple = ()) -> subprocess.CompletedProcess:
    e = os.environ.copy()
    if env:
        e.update(env)
    for k in unset:
        e.pop(k, None)
    return subprocess.run([str(binary), *args], capture_output=True, timeout=timeout, cwd=cwd,
                          env=e, stdin=subprocess.DEVNULL)
