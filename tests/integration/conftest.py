"""Fixtures for the black-box integration suite (see docs/testing.md).

Real servers, all on 127.0.0.1 with free ports and temp dirs, stopped by PID at the end:
  moto_auth    session: moto with SigV4 checking ON (IAM user + key + policy), seeded
  moto_noauth  session: a second moto WITHOUT checking, for keys moto's verifier gets wrong
  big_object   session: the 1 GiB object, uploaded to moto_auth on first use (slow tests)
  proxy        the standard proxy (session-wide process, checked alive around every test)
  proxy_factory  a proxy per test with its own inline YAML
Fakes (tests/support/fault_server.py) only for stall / reset / 503 / trickle / chunked
backends.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "scripts" / "lib"), str(REPO / "tests" / "support")]

import catalog  # noqa: E402
import yg_moto  # noqa: E402
from fault_server import FaultServer  # noqa: E402
from layouts import standard_buckets  # noqa: E402
from proxy import KNOWN_SECRETS, Proxy, config_doc, register_secret  # noqa: E402
import yg_procs  # noqa: E402


def pytest_collection_modifyitems(config, items):
    # `make integration-asan` sets YG_SANITIZED=1: ASan's shadow memory and quarantine make
    # RSS meaningless, so peak-RSS tests are skipped there (they run on the release build).
    if os.environ.get("YG_SANITIZED") == "1":
        skip = pytest.mark.skip(reason="YG_SANITIZED=1: ASan inflates RSS")
        for item in items:
            if "rss" in item.keywords:
                item.add_marker(skip)


def binary_path() -> Path:
    return Path(os.environ.get("YG_BINARY", REPO / "build" / "yatagarasu"))


def _proxy_log_files(base: Path):
    """Every log a proxy wrote during the run: stderr/stdout captures and audit files."""
    for f in base.rglob("*"):
        n = f.name
        if f.is_file() and (n.endswith(".stderr.log") or n.endswith(".stdout.log")
                            or n.startswith("audit")):
            yield f


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_log(tmp_path_factory):
    """OBS-3 over the whole run: after the last test, every proxy log and audit file written
    anywhere in this session is searched for every secret any test registered (S3 secret keys,
    bearer tokens, presigned signatures, cookies), including secrets registered after that
    proxy stopped. A hit fails the run (as a teardown error)."""
    yield
    base = tmp_path_factory.getbasetemp()
    hits = []
    for f in _proxy_log_files(base):
        data = f.read_bytes()
        hits += [f"{s[:4]}... in {f.relative_to(base)}" for s in KNOWN_SECRETS if s.encode() in data]
    assert not hits, "secrets found in logs: " + "; ".join(hits)


@pytest.fixture(scope="session")
def yg_binary() -> Path:
    p = binary_path()
    if not (p.is_file() and os.access(p, os.X_OK)):
        # Fail, never skip: a missing binary must not look like a green run.
        pytest.fail(f"proxy binary {p} is missing: run `make build` or set YG_BINARY",
                    pytrace=False)
    return p


@pytest.fixture(scope="session")
def moto_auth(tmp_path_factory):
    m = yg_moto.MotoServer(tmp_path_factory.mktemp("moto-auth"), auth=True)
    m.start()
    try:
        register_secret(m.secret_key)
        catalog.seed_auth(m)
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="session")
def moto_noauth(tmp_path_factory):
    m = yg_moto.MotoServer(tmp_path_factory.mktemp("moto-noauth"), auth=False)
    m.start()
    try:
        catalog.seed_noauth(m)
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="session")
def big_object(moto_auth) -> catalog.BigObj:
    """The 1 GiB object: generated deterministically, uploaded in 32 MiB parts, hashed on the
    way. Costs ~30 s and ~4 GiB of moto memory, so only slow tests ask for it."""
    if not catalog.BIG.sha256:
        catalog.seed_big(moto_auth)
    return catalog.BIG


class ProxyFactory:
    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.started = []

    def __call__(self, buckets=None, *, server=None, logging=None, extra=None, raw_yaml=None,
                 name=None, env=None, start=True) -> Proxy:
        name = name or f"proxy{len(self.started) + 1}"
        p = Proxy(self.binary, self.workdir / name, name=name, env=dict(env or {}))
        p.port = yg_procs.free_port()
        if raw_yaml is not None:
            p.write_config(raw_yaml.replace("{PORT}", str(p.port)))
        else:
            p.write_config(config_doc(p.port, buckets or [], server=server, logging=logging,
                                      extra=extra))
        self.started.append(p)
        if start:
            p.start()
        return p

    def stop_all(self) -> list:
        problems = []
        for p in self.started:
            problems += [f"{p.name}: {x}" for x in p.stop(check=False)]
        return problems


@pytest.fixture
def proxy_factory(yg_binary, tmp_path):
    f = ProxyFactory(yg_binary, tmp_path)
    yield f
    problems = f.stop_all()
    if problems:
        tails = "\n".join(f"--- {p.log_path} ---\n{p.log_tail(30)}" for p in f.started)
        pytest.fail("; ".join(problems) + "\n" + tails, pytrace=False)


class _StandardProxy:
    """One proxy process for the many tests that share the standard config. Restarted if a
    test kills it, so one crash fails one test, not the rest of the run."""

    def __init__(self, binary, workdir, moto_auth, moto_noauth):
        self.factory = ProxyFactory(binary, workdir)
        self.moto_auth, self.moto_noauth = moto_auth, moto_noauth
        self.current = None
        self.generation = 0

    def get(self) -> Proxy:
        if self.current is None or not self.current.alive():
            self.generation += 1
            self.current = self.factory(standard_buckets(self.moto_auth, self.moto_noauth),
                                        name=f"standard{self.generation}")
        return self.current


@pytest.fixture(scope="session")
def _standard_proxy(yg_binary, tmp_path_factory, moto_auth, moto_noauth):
    holder = _StandardProxy(yg_binary, tmp_path_factory.mktemp("standard-proxy"), moto_auth,
                            moto_noauth)
    yield holder
    problems = holder.factory.stop_all()
    assert not problems, "; ".join(problems)


@pytest.fixture
def proxy(_standard_proxy) -> Proxy:
    p = _standard_proxy.get()
    yield p
    if not p.alive():
        status = p.proc.returncode
        p.stop(check=False)  # reaped here; the next test gets a fresh proxy
        pytest.fail(f"the proxy died during this test (status {status}):\n" + p.log_tail(60),
                    pytrace=False)


@pytest.fixture
def relay(s3):
    """A counting relay (tests/support/counting_relay.py) in front of the test module's `s3`
    fixture (the moto holding that module's buckets): every S3 request counted and recorded."""
    from counting_relay import CountingRelay
    r = CountingRelay.to_url(s3.url).start()
    yield r
    r.stop()


@pytest.fixture
def fault_server():
    """Factory for FAKE misbehaving backends; all stopped after the test."""
    servers = []

    def make(mode: str, **kw) -> FaultServer:
        s = FaultServer(mode=mode, **kw).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()
