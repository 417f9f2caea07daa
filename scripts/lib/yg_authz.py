"""Start real OPA and OpenFGA servers on 127.0.0.1 for the authorization tests.

The binaries are the pinned builds of scripts/install-authz-servers.sh (or $YG_OPA /
$YG_OPENFGA). A missing binary raises MissingBinary: the authorization tests must fail, not
skip, on a machine without them.

Each server listens on free loopback ports, logs to <dir>/<name>-<port>.log, runs in its
own session and is stopped by PID (yg_procs.stop_pid). sigstop()/sigcont() freeze and thaw it
(a hung service: connections are accepted by the kernel, nothing answers); kill() is a crash;
restart() starts it again on the same ports.

* Opa: policies via the REST API; decision_count()/decisions() read OPA's console decision
  log, which has exactly one line per POST /v1/data/... (nothing for /health or policy PUTs).
  restart() PUTs the policies it had again (OPA keeps them in memory only).
* OpenFga: datastore "memory" (default; restart() loses every store) or "sqlite" in the
  directory (restart() keeps stores, models and tuples). check_count() reads the Prometheus
  metrics, served on a free loopback port.

    python scripts/lib/yg_authz.py     # demo: both servers, the example policy and model
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yg_procs  # noqa: E402

OPA_VERSION = "v1.22.3"
OPENFGA_VERSION = "v1.22.1"
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"


class MissingBinary(RuntimeError):
    pass


class HttpError(RuntimeError):
    def __init__(self, method: str, url: str, status: int, body: str):
        super().__init__(f"{method} {url} -> {status}: {body}")
        self.status, self.body = status, body


def tools_dir() -> Path:
    return Path(os.environ.get("YG_TOOLS_DIR") or Path.home() / ".cache" / "yatagarasu-tools")


def _binary(env: str, name: str, version: str) -> Path:
    path = Path(os.environ.get(env) or tools_dir() / "go" / f"{name}-{version}" / name)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise MissingBinary(f"{name} {version} not found at {path} (set by ${env} or the tools "
                            "dir); build it with scripts/install-authz-servers.sh")
    return path


def opa_binary() -> Path:
    return _binary("YG_OPA", "opa", OPA_VERSION)


def openfga_binary() -> Path:
    return _binary("YG_OPENFGA", "openfga", OPENFGA_VERSION)


# No proxies from the environment: every server here is on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body=None, headers: Optional[Dict[str, str]] = None,
         timeout: float = 10.0) -> Tuple[int, str]:
    """One request; returns (status, body text) for any HTTP status. `body`: dict/list is sent
    as JSON, str as text/plain."""
    hdrs = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
        hdrs.setdefault("Content-Type", "text/plain")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class _Server:
    """Process plumbing shared by Opa and OpenFga."""

    name = "server"

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.workdir: Optional[Path] = None
        self.log_path: Optional[Path] = None
        self.startup_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://{yg_procs.LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def _command(self) -> List[str]:
        raise NotImplementedError

    def _health_url(self) -> str:
        raise NotImplementedError

    def _env(self) -> Dict[str, str]:
        return os.environ.copy()

    def _launch(self, timeout: float) -> None:
        assert self.workdir is not None and self.log_path is not None
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         env=self._env(), start_new_session=True,
                                         preexec_fn=yg_procs.die_with_parent)
        try:
            yg_procs.wait_http_ok(self._health_url(), timeout=timeout, proc=self.proc,
                                  what=self.name, log=self.log_path)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None:
            self.sigcont()  # a stopped process would not act on SIGTERM
            yg_procs.stop_pid(self.proc, timeout=10)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: the service is gone at once, as in a crash."""
        if self.proc is not None:
            yg_procs.stop_pid(self.proc, timeout=10, sig=signal.SIGKILL)
            self.proc = None

    def sigstop(self) -> None:
        """Freeze the process: connects still succeed (the kernel's backlog), no answers."""
        os.kill(self.pid, signal.SIGSTOP)

    def sigcont(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Opa(_Server):
    name = "opa"

    def __init__(self) -> None:
        super().__init__()
        self.policies: Dict[str, str] = {}

    def _command(self) -> List[str]:
        return [str(opa_binary()), "run", "--server", "--addr", f"{yg_procs.LOOPBACK}:{self.port}",
                "--log-level", "error", "--set", "decision_logs.console=true",
                "--skip-version-check"]

    def _health_url(self) -> str:
        return self.url + "/health"

    def start(self, tmpdir, policies: Optional[Dict[str, str]] = None,
              timeout: float = 30.0) -> "Opa":
        """`policies`: policy id -> Rego text, PUT once OPA is up."""
        self.workdir = Path(tmpdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or yg_procs.free_port()
        self.log_path = self.workdir / f"opa-{self.port}.log"
        self._launch(timeout)
        for policy_id, text in (policies or {}).items():
            self.put_policy(policy_id, text)
        return self

    def restart(self, timeout: float = 30.0) -> "Opa":
        """Stop and start again on the same port, with the same policies."""
        self.stop()
        self._launch(timeout)
        for policy_id, text in list(self.policies.items()):
            self.put_policy(policy_id, text)
        return self

    def _policy_url(self, policy_id: str) -> str:
        return f"{self.url}/v1/policies/{urllib.parse.quote(policy_id, safe='/')}"

    def put_policy(self, policy_id: str, rego: str) -> None:
        status, body = http("PUT", self._policy_url(policy_id), rego)
        if status != 200:
            raise HttpError("PUT", self._policy_url(policy_id), status, body)
        self.policies[policy_id] = rego

    def delete_policy(self, policy_id: str) -> None:
        status, body = http("DELETE", self._policy_url(policy_id))
        if status != 200:
            raise HttpError("DELETE", self._policy_url(policy_id), status, body)
        self.policies.pop(policy_id, None)

    def query(self, path: str, input_doc) -> dict:
        """POST /v1/data/<path> (one decision in the log); returns OPA's whole answer, e.g.
        {"decision_id": "...", "result": true}; no "result" when the rule is undefined."""
        url = f"{self.url}/v1/data/{path.strip('/')}"
        status, body = http("POST", url, {"input": input_doc})
        if status != 200:
            raise HttpError("POST", url, status, body)
        return json.loads(body)

    def decisions(self) -> List[dict]:
        """The decision log entries so far (every start of this Opa; the log is
        <tmpdir>/opa-<port>.log): each has `path`,
        `input`, `result` (absent when undefined), `decision_id`, `timestamp`..."""
        out = []
        if self.log_path is None or not self.log_path.exists():
            return out
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"Decision Log"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "Decision Log":
                out.append(entry)
        return out

    def decision_count(self) -> int:
        return len(self.decisions())


Tuple3 = Tuple[str, str, str]  # (user, relation, object)


def _tuple_keys(tuples: Iterable[Tuple3]) -> List[dict]:
    return [{"user": u, "relation": r, "object": o} for u, r, o in tuples]


class OpenFga(_Server):
    name = "openfga"

    def __init__(self) -> None:
        super().__init__()
        self.grpc_port = 0
        self.metrics_port = 0
        self.preshared_key: Optional[str] = None
        self.datastore = "memory"

    def _command(self) -> List[str]:
        assert self.workdir is not None
        lo = yg_procs.LOOPBACK
        cmd = [str(openfga_binary()), "run",
               "--http-addr", f"{lo}:{self.port}", "--grpc-addr", f"{lo}:{self.grpc_port}",
               "--metrics-enabled=true", "--metrics-addr", f"{lo}:{self.metrics_port}",
               "--playground-enabled=false", "--profiler-enabled=false",
               "--trace-enabled=false", "--log-level", "warn", "--log-format", "json"]
        if self.datastore == "sqlite":
            cmd += ["--datastore-engine", "sqlite", "--datastore-uri", self._sqlite_uri()]
        else:
            cmd += ["--datastore-engine", "memory"]
        if self.preshared_key is not None:
            cmd += ["--authn-method", "preshared", "--authn-preshared-keys", self.preshared_key]
        return cmd

    def _env(self) -> Dict[str, str]:
        # OPENFGA_* variables would set whatever the flags leave out (caches, limits...).
        return {k: v for k, v in os.environ.items() if not k.startswith("OPENFGA_")}

    def _sqlite_uri(self) -> str:
        assert self.workdir is not None
        return f"file:{self.workdir / f'openfga-{self.port}.sqlite'}"

    def _health_url(self) -> str:
        return self.url + "/healthz"

    def start(self, tmpdir, preshared_key: Optional[str] = None, datastore: str = "memory",
              timeout: float = 30.0) -> "OpenFga":
        """`preshared_key`: every API call then needs `Authorization: Bearer <key>` (this
        class sends it). `datastore`: "memory" or "sqlite" (survives restart())."""
        assert datastore in ("memory", "sqlite"), datastore
        # --authn-preshared-keys is a list flag: a comma would split the key in two.
        assert preshared_key is None or (preshared_key and "," not in preshared_key)
        self.workdir = Path(tmpdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.preshared_key, self.datastore = preshared_key, datastore
        self.port = self.port or yg_procs.free_port()
        self.log_path = self.workdir / f"openfga-{self.port}.log"
        self.grpc_port = self.grpc_port or yg_procs.free_port()
        self.metrics_port = self.metrics_port or yg_procs.free_port()
        if datastore == "sqlite":
            with open(self.log_path, "ab") as log:
                subprocess.run([str(openfga_binary()), "migrate", "--datastore-engine", "sqlite",
                                "--datastore-uri", self._sqlite_uri()], stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, env=self._env(),
                               check=True, timeout=60)
        self._launch(timeout)
        return self

    def restart(self, timeout: float = 30.0) -> "OpenFga":
        """Same ports; with the memory datastore every store is gone afterwards."""
        self.stop()
        self._launch(timeout)
        return self

    # --- HTTP API ------------------------------------------------------------------------

    def api(self, method: str, path: str, body=None, key: Optional[str] = None) -> Tuple[int, dict]:
        """(status, parsed JSON body) for any status. `key` overrides the preshared key."""
        key = self.preshared_key if key is None else key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        status, text = http(method, self.url + path, body, headers)
        try:
            return status, (json.loads(text) if text else {})
        except ValueError:
            return status, {"raw": text}

    def _ok(self, method: str, path: str, body=None) -> dict:
        status, doc = self.api(method, path, body)
        if status not in (200, 201):
            raise HttpError(method, self.url + path, status, json.dumps(doc))
        return doc

    def create_store(self, name: str) -> str:
        return self._ok("POST", "/stores", {"name": name})["id"]

    def write_model(self, store_id: str, model_json: dict) -> str:
        return self._ok("POST", f"/stores/{store_id}/authorization-models",
                        model_json)["authorization_model_id"]

    def _write(self, store_id: str, kind: str, tuples: Sequence[Tuple3],
               model_id: Optional[str]) -> None:
        body: dict = {kind: {"tuple_keys": _tuple_keys(tuples)}}
        if model_id:
            body["authorization_model_id"] = model_id
        self._ok("POST", f"/stores/{store_id}/write", body)

    def write_tuples(self, store_id: str, tuples: Sequence[Tuple3],
                     model_id: Optional[str] = None) -> None:
        self._write(store_id, "writes", tuples, model_id)

    def delete_tuples(self, store_id: str, tuples: Sequence[Tuple3],
                      model_id: Optional[str] = None) -> None:
        self._write(store_id, "deletes", tuples, model_id)

    def check_raw(self, store_id: str, user: str, relation: str, obj: str,
                  contextual_tuples: Optional[Sequence[Tuple3]] = None,
                  model_id: Optional[str] = None) -> Tuple[int, dict]:
        body: dict = {"tuple_key": {"user": user, "relation": relation, "object": obj}}
        if contextual_tuples:
            body["contextual_tuples"] = {"tuple_keys": _tuple_keys(contextual_tuples)}
        if model_id:
            body["authorization_model_id"] = model_id
        return self.api("POST", f"/stores/{store_id}/check", body)

    def check(self, store_id: str, user: str, relation: str, obj: str,
              contextual_tuples: Optional[Sequence[Tuple3]] = None,
              model_id: Optional[str] = None) -> bool:
        status, doc = self.check_raw(store_id, user, relation, obj, contextual_tuples, model_id)
        if status != 200:
            raise HttpError("POST", f"{self.url}/stores/{store_id}/check", status,
                            json.dumps(doc))
        return bool(doc.get("allowed"))

    def check_count(self) -> int:
        """Check calls this process handled, from the Prometheus counter
        grpc_server_handled_total of openfga.v1.OpenFGAService/Check (not the
        grpc.health.v1.Health/Check that /healthz makes). Counted: allowed, denied, 401
        unauthenticated, and errors found while resolving (invalid_tuple, unknown relation /
        store / model, ':' or '#' in an id). Not counted: requests the field validators refuse
        (malformed store id, whitespace, over-long ids, >100 contextual tuples) or malformed
        JSON. restart() resets it."""
        status, text = http("GET", f"http://{yg_procs.LOOPBACK}:{self.metrics_port}/metrics")
        if status != 200:
            raise HttpError("GET", "/metrics", status, text[:200])
        total = 0.0
        for m in re.finditer(r'^grpc_server_handled_total\{([^}]*)\} (\S+)$', text, re.M):
            labels = m.group(1)
            if 'grpc_method="Check"' in labels and 'grpc_service="openfga.v1.' in labels:
                total += float(m.group(2))
        return int(total)


def parent_chain(bucket: str, key: str) -> List[Tuple3]:
    """The contextual tuples the proxy sends for file:<bucket>/<key> (model.fga)."""
    parts = key.split("/")
    folders = [f"folder:{bucket}/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts))]
    chain = [f"bucket:{bucket}"] + folders + [f"file:{bucket}/{key}"]
    return [(chain[i], "parent", chain[i + 1]) for i in range(len(chain) - 1)]


# --- demo ------------------------------------------------------------------------------

def _demo_opa(tmp: Path) -> None:
    opa_dir = EXAMPLES / "opa"
    with Opa().start(tmp / "opa", {"yatagarasu": (opa_dir / "yatagarasu.rego").read_text(),
                                   "decision": (opa_dir / "decision.rego").read_text()}) as opa:
        print(f"opa {OPA_VERSION} at {opa.url} (pid {opa.pid}), up in {opa.startup_seconds:.2f} s")
        alice = {"sub": "alice", "roles": ["user"], "department": "finance"}
        cases = [
            (None, "GET", "public/logo.png", False),
            (alice, "GET", "public/logo.png", True),
            (alice, "HEAD", "users/alice/notes.txt", True),
            (alice, "GET", "users/bob/notes.txt", False),
            (alice, "GET", "departments/finance/q1.xlsx", True),
            (alice, "GET", "departments/hr/salaries.xlsx", False),
            ({"sub": "root", "roles": ["admin"]}, "GET", "departments/hr/salaries.xlsx", True),
            ({"sub": "alice/x"}, "GET", "users/alice/x/y", False),
            (alice, "PUT", "users/alice/notes.txt", False),
        ]
        before = opa.decision_count()
        for claims, method, key, want in cases:
            inp = {"jwt_claims": claims, "bucket": "docs", "path": f"/docs/{key}", "key": key,
                   "method": method, "client_ip": "127.0.0.1", "request_id": "demo",
                   "headers": {}}
            allow = opa.query("yatagarasu/authz/allow", inp)["result"]
            dec = opa.query("yatagarasu/decision/decision", inp)["result"]
            sub = (claims or {}).get("sub", "-")
            print(f"  {sub:8} {method:4} {key:32} allow={allow!s:5} {dec['reason']}")
            assert allow is want and dec["allow"] is want, (claims, method, key)
        got = opa.decision_count() - before
        print(f"  decision log: {got} new entries for {2 * len(cases)} queries")
        assert got == 2 * len(cases)


def _demo_openfga(tmp: Path) -> None:
    model = json.loads((EXAMPLES / "openfga" / "model.json").read_text())
    with OpenFga().start(tmp / "openfga", preshared_key="demo-key") as fga:
        print(f"openfga {OPENFGA_VERSION} at {fga.url} (pid {fga.pid}), "
              f"up in {fga.startup_seconds:.2f} s")
        store = fga.create_store("demo")
        model_id = fga.write_model(store, model)
        fga.write_tuples(store, [("user:ann", "viewer", "file:docs/reports/2024/q1.pdf"),
                                 ("user:bea", "viewer", "folder:docs/reports/"),
                                 ("user:cat", "owner", "bucket:docs"),
                                 ("user:*", "viewer", "folder:docs/public/")])
        file_ctx = parent_chain("docs", "reports/2024/q1.pdf")
        pub_ctx = parent_chain("docs", "public/a/logo.png")
        cases = [("user:ann", "file:docs/reports/2024/q1.pdf", file_ctx, True),
                 ("user:bea", "file:docs/reports/2024/q1.pdf", file_ctx, True),
                 ("user:bea", "file:docs/reports/2024/q1.pdf", None, False),
                 ("user:cat", "file:docs/reports/2024/q1.pdf", file_ctx, True),
                 ("user:dan", "file:docs/reports/2024/q1.pdf", file_ctx, False),
                 ("user:dan", "file:docs/public/a/logo.png", pub_ctx, True),
                 ("user:ann", "file:docs/reports/2023/q4.pdf",
                  parent_chain("docs", "reports/2023/q4.pdf"), False)]
        before = fga.check_count()
        for user, obj, ctx, want in cases:
            got = fga.check(store, user, "viewer", obj, ctx, model_id)
            print(f"  {user:9} viewer {obj:34} ctx={len(ctx or ()):d} -> {got}")
            assert got is want, (user, obj, ctx)
        print(f"  check_count: {fga.check_count() - before} new for {len(cases)} checks")
        assert fga.check_count() - before == len(cases)
        status, doc = fga.api("POST", "/stores", {"name": "other"}, key="wrong-key")
        print(f"  wrong preshared key -> {status} {doc}")
        assert status == 401


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="yg-authz-") as tmp:
        _demo_opa(Path(tmp))
        _demo_openfga(Path(tmp))
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
