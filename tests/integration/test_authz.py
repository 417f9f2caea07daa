"""AUTHZ-1..4 end to end against the real servers: `opa` and `openfga` (pinned, built by
scripts/install-authz-servers.sh, started by scripts/lib/yg_authz.py on free loopback ports),
moto with signature checking behind the proxy, tokens minted by PyJWT.

OPA's own decision log and OpenFGA's Check counter show when the proxy asked and when its
decision cache answered instead. Fakes only where a real server will not misbehave on demand
(an engine answering 503 once)."""

from __future__ import annotations

import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import catalog
import httpc
import yg_authz
import yg_procs
from jwks_server import make_key
from layouts import moto_bucket
from prom import eventually, scrape, series, series_or_zero
from proxy import config_doc, register_secret, run_cli

H = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"
OBJ = catalog.AUTHZ_OBJECTS


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def key():
    return make_key("HS256", kid="authz")


@pytest.fixture(scope="module")
def opa(tmp_path_factory):
    """One OPA for the module, with the example policies (config/examples/opa)."""
    o = yg_authz.Opa().start(tmp_path_factory.mktemp("opa"), {
        "yatagarasu": (EXAMPLES / "opa" / "yatagarasu.rego").read_text(),
        "decision": (EXAMPLES / "opa" / "decision.rego").read_text(),
    })
    yield o
    o.stop()


@pytest.fixture(scope="module")
def fga(tmp_path_factory):
    """One OpenFGA (in-memory store) with the example model and these relationships:
    alice views reports/2024/q1.pdf directly; bob views folder reports/ (inherits q1, q2);
    carol owns the bucket; everyone (user:*) views folder shared/; dave has nothing."""
    f = yg_authz.OpenFga().start(tmp_path_factory.mktemp("openfga"))
    store = f.create_store("yatagarasu-tests")
    model = f.write_model(store, json.loads((EXAMPLES / "openfga" / "model.json").read_text()))
    f.write_tuples(store, [
        ("user:alice", "viewer", "file:fga/reports/2024/q1.pdf"),
        ("user:bob", "viewer", "folder:fga/reports/"),
        ("user:carol", "owner", "bucket:fga"),
        ("user:*", "viewer", "folder:fga/shared/"),
        ("user:erin", "viewer", "bucket:fga-claim"),
    ], model_id=model)
    f.store_id, f.model_id = store, model
    yield f
    f.stop()


def jwt_cfg(key) -> dict:
    return {"enabled": True, "algorithm": "HS256", "secret": register_secret(key.private.decode())}


def bucket(moto, name, prefix, authorization, auth=True) -> dict:
    b = moto_bucket(moto, name, prefix, catalog.BUCKET_AUTHZ)
    if auth:
        b["auth"] = {"enabled": True}
    if authorization is not None:
        b["authorization"] = authorization
    return b


def opa_authz(opa_url, policy="yatagarasu/authz/allow", **extra) -> dict:
    return {"type": "opa", "opa_url": opa_url, "opa_policy_path": policy,
            "opa_timeout_ms": 2000, **extra}


def fga_authz(f, **extra) -> dict:
    return {"type": "openfga", "openfga_endpoint": f.url, "openfga_store_id": f.store_id,
            "openfga_authorization_model_id": f.model_id, "openfga_timeout_ms": 2000, **extra}


def get(p, target, token=None, method="GET", headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {register_secret(token)}"
    return httpc.request(H, p.port, method, target, headers=h)


def assert_object(r, key):
    assert r.status == 200, r.text_dump()
    assert r.body == OBJ[key].body


def assert_denied(r, reason_part=None):
    assert r.status == 403, r.text_dump()
    doc = r.json()
    assert doc["error"] == "Forbidden" and doc["status"] == 403
    assert "authorization policy" in doc["message"]
    if reason_part is not None:
        assert reason_part in doc.get("reason", ""), doc
    return doc


def assert_unavailable(r):
    assert r.status == 500, r.text_dump()
    doc = r.json()
    assert doc["error"] == "AuthorizationUnavailable", doc
    assert doc["status"] == 500 and doc["request_id"] == r.header("X-Request-ID")


def metrics_eventually(p, check):
    return eventually(p.port, check)


def authz_count(m, bucket_name, outcome):
    return series_or_zero(m, "yatagarasu_authz_requests_total", bucket=bucket_name,
                          outcome=outcome)


# --- OPA --------------------------------------------------------------------------------

def test_opa_allows_and_denies_by_claim_and_path(proxy_factory, moto_auth, opa, key):
    p = proxy_factory([bucket(moto_auth, "opa", "/opa", opa_authz(opa.url))],
                      extra={"jwt": jwt_cfg(key)})
    alice = key.mint({"sub": "alice"}, kid=None)
    admin = key.mint({"sub": "root", "roles": ["admin"]}, kid=None)
    eng = key.mint({"sub": "erin", "department": "eng"}, kid=None)
    sneaky = key.mint({"sub": "alice/../bob"}, kid=None)
    assert_object(get(p, "/opa/users/alice/notes.txt", alice), "users/alice/notes.txt")
    assert_object(get(p, "/opa/public/readme.txt", alice), "public/readme.txt")
    assert_denied(get(p, "/opa/users/bob/notes.txt", alice))
    assert_denied(get(p, "/opa/departments/eng/plan.txt", alice))
    assert_object(get(p, "/opa/users/bob/notes.txt", admin), "users/bob/notes.txt")
    assert_object(get(p, "/opa/departments/eng/plan.txt", eng), "departments/eng/plan.txt")
    assert_denied(get(p, "/opa/departments/sales/plan.txt", eng))
    assert_denied(get(p, "/opa/users/bob/notes.txt", sneaky))
    # HEAD is decided like GET: headers, no body.
    r = get(p, "/opa/users/alice/notes.txt", alice, method="HEAD")
    assert r.status == 200 and r.body == b""
    assert int(r.header("Content-Length")) == OBJ["users/alice/notes.txt"].size
    # Authentication comes first: no token is 401, never a policy question.
    before = opa.decision_count()
    assert get(p, "/opa/public/readme.txt").status == 401
    assert opa.decision_count() == before
    # Authorized objects are private to shared caches.
    r = get(p, "/opa/public/readme.txt", alice)
    assert "private" in r.header("Cache-Control")
    def check(m):
        assert authz_count(m, "opa", "allowed") == 6
        assert authz_count(m, "opa", "denied") == 4
    metrics_eventually(p, check)


def test_opa_input_is_exactly_what_the_docs_say(proxy_factory, moto_auth, opa, key):
    opa.put_policy("echo", "package echo\nimport rego.v1\nallow := true\n")
    p = proxy_factory([bucket(moto_auth, "opa-echo", "/echo",
                              opa_authz(opa.url, "echo/allow",
                                        opa_input_headers=["X-Tenant", "user-agent"]))],
                      extra={"jwt": jwt_cfg(key)})
    tok = key.mint({"sub": "alice", "team": {"name": "blue"}}, kid=None)
    before = opa.decision_count()
    r = get(p, "/echo/users/alice/notes.txt?x=1", tok,
            headers={"X-Tenant": "acme", "Cookie": "session=s3cr3t-cookie",
                     "X-Request-ID": "opa-input-check-1"})
    assert_object(r, "users/alice/notes.txt")
    entries = opa.decisions()[before:]
    assert len(entries) == 1, entries
    e = entries[0]
    assert e["path"] == "echo/allow"
    inp = e["input"]
    assert set(inp) == {"jwt_claims", "bucket", "path", "key", "method", "client_ip",
                        "request_id", "headers"}
    assert inp["jwt_claims"]["sub"] == "alice" and inp["jwt_claims"]["team"] == {"name": "blue"}
    assert inp["bucket"] == "opa-echo"
    assert inp["path"] == "/echo/users/alice/notes.txt"
    assert inp["key"] == "users/alice/notes.txt"
    assert inp["method"] == "GET"
    assert inp["client_ip"] == "127.0.0.1"
    assert inp["request_id"] == "opa-input-check-1"
    # Only allow-listed headers; never Authorization or Cookie.
    assert inp["headers"]["x-tenant"] == "acme"
    assert set(inp["headers"]) <= {"x-tenant", "user-agent"}
    assert "Bearer" not in json.dumps(e) and "s3cr3t-cookie" not in json.dumps(e)


def test_opa_decides_by_method_client_ip_and_header(proxy_factory, moto_auth, opa, key):
    opa.put_policy("rules", """package rules
import rego.v1
default head_only := false
head_only if input.method == "HEAD"
default from_loopback := false
from_loopback if input.client_ip == "127.0.0.1"
default from_office := false
from_office if net.cidr_contains("10.0.0.0/8", input.client_ip)
default tenant := false
tenant if input.headers["x-tenant"] == "acme"
""")
    p = proxy_factory([
        bucket(moto_auth, "head", "/head", opa_authz(opa.url, "rules/head_only")),
        bucket(moto_auth, "lo", "/lo", opa_authz(opa.url, "rules/from_loopback")),
        bucket(moto_auth, "office", "/office", opa_authz(opa.url, "rules/from_office")),
        bucket(moto_auth, "tenant", "/tenant",
               opa_authz(opa.url, "rules/tenant", opa_input_headers=["x-tenant"])),
    ], extra={"jwt": jwt_cfg(key)})
    tok = key.mint({"sub": "alice"}, kid=None)
    assert_denied(get(p, "/head/top.txt", tok))
    assert get(p, "/head/top.txt", tok, method="HEAD").status == 200
    assert_object(get(p, "/lo/top.txt", tok), "top.txt")
    assert_denied(get(p, "/office/top.txt", tok))
    assert_object(get(p, "/tenant/top.txt", tok, headers={"X-Tenant": "acme"}), "top.txt")
    assert_denied(get(p, "/tenant/top.txt", tok, headers={"X-Tenant": "globex"}))
    assert_denied(get(p, "/tenant/top.txt", tok))


def test_opa_reason_object_and_undefined_result(proxy_factory, moto_auth, opa, key):
    p = proxy_factory([
        bucket(moto_auth, "why", "/why", opa_authz(opa.url, "yatagarasu/decision/decision")),
        bucket(moto_auth, "none", "/none", opa_authz(opa.url, "no/such/rule")),
    ], extra={"jwt": jwt_cfg(key)})
    bob = key.mint({"sub": "bob"}, kid=None)
    assert_object(get(p, "/why/users/bob/notes.txt", bob), "users/bob/notes.txt")
    doc = assert_denied(get(p, "/why/users/alice/notes.txt", bob),
                        "no rule lets bob read users/alice/notes.txt")
    assert doc["reason"].startswith("no rule lets bob")
    # An undefined result (a policy path naming nothing) denies; it is no outage.
    assert_denied(get(p, "/none/top.txt", bob), "policy result undefined")
    def check(m):
        assert authz_count(m, "none", "denied") == 1
        assert authz_count(m, "none", "failed_closed") == 0
    metrics_eventually(p, check)
    # The reason is in the access log line's error.
    logs = p.logs().decode()
    assert "no rule lets bob read users/alice/notes.txt" in logs


def test_opa_decision_cache_ttls_and_policy_change(proxy_factory, moto_auth, opa, key):
    opa.put_policy("toggle", "package toggle\nimport rego.v1\nallow := true\n")
    p = proxy_factory([bucket(moto_auth, "ttl", "/ttl", opa_authz(
        opa.url, "toggle/allow", cache={"ttl_seconds": 3, "negative_ttl_seconds": 1}))],
        extra={"jwt": jwt_cfg(key)})
    tok = key.mint({"sub": "alice"}, kid=None)
    before = opa.decision_count()
    t0 = time.monotonic()
    for _ in range(10):
        assert_object(get(p, "/ttl/top.txt", tok), "top.txt")
    assert opa.decision_count() == before + 1, "repeated requests must come from the cache"
    def check(m):
        assert series(m, "yatagarasu_authz_cache_lookups_total", bucket="ttl", result="hit") == 9
        assert series(m, "yatagarasu_authz_cache_lookups_total", bucket="ttl", result="miss") == 1
        assert series(m, "yatagarasu_authz_cache_entries", bucket="ttl") == 1
    metrics_eventually(p, check)
    # A different request (another key) is another decision.
    assert_object(get(p, "/ttl/public/readme.txt", tok), "public/readme.txt")
    assert opa.decision_count() == before + 2
    # The policy now denies: the cached allow holds until its TTL, then OPA is asked again.
    opa.put_policy("toggle", "package toggle\nimport rego.v1\nallow := false\n")
    if time.monotonic() - t0 < 2.5:
        assert get(p, "/ttl/top.txt", tok).status == 200
    yg_procs.wait_until(lambda: get(p, "/ttl/top.txt", tok).status == 403, timeout=6,
                        what="the cached allow to expire")
    assert time.monotonic() - t0 >= 3.0
    # The deny is cached for 1 s only: allowing again takes effect about a second later.
    opa.put_policy("toggle", "package toggle\nimport rego.v1\nallow := true\n")
    t1 = time.monotonic()
    yg_procs.wait_until(lambda: get(p, "/ttl/top.txt", tok).status == 200, timeout=4,
                        what="the cached deny to expire")
    assert time.monotonic() - t1 < 2.5


def test_opa_down_fails_closed_or_open(proxy_factory, moto_auth, key, tmp_path):
    own = yg_authz.Opa().start(tmp_path / "opa-own",
                               {"p": "package p\nimport rego.v1\nallow := true\n"})
    try:
        p = proxy_factory([
            bucket(moto_auth, "closed", "/closed", opa_authz(own.url, "p/allow",
                                                             cache={"enabled": False})),
            bucket(moto_auth, "open", "/open",
                   opa_authz(own.url, "p/allow", opa_fail_mode="open",
                             cache={"enabled": False})),
        ], extra={"jwt": jwt_cfg(key)})
        tok = key.mint({"sub": "alice"}, kid=None)
        assert_object(get(p, "/closed/top.txt", tok), "top.txt")
        own.stop()  # refused from now on (the pooled connection is gone too)
        assert_unavailable(get(p, "/closed/top.txt", tok))
        assert get(p, "/closed/top.txt", tok, method="HEAD").status == 500
        assert_object(get(p, "/open/top.txt", tok), "top.txt")
        def check(m):
            assert authz_count(m, "closed", "failed_closed") == 2
            assert authz_count(m, "open", "failed_open") == 1
            # Each failed request tried twice (one retry on a refused connection).
            assert series(m, "yatagarasu_authz_engine_errors_total", bucket="closed",
                          kind="connect") == 4
        metrics_eventually(p, check)
        logs = p.logs().decode()
        assert "authorization unavailable" in logs and "fail_mode open: request allowed" in logs
        # OPA back on the same port: served again without a proxy restart.
        own.restart()
        assert_object(get(p, "/closed/top.txt", tok), "top.txt")
    finally:
        own.stop()


def test_opa_slow_times_out_into_the_fail_mode(proxy_factory, moto_auth, key, tmp_path):
    own = yg_authz.Opa().start(tmp_path / "opa-slow",
                               {"p": "package p\nimport rego.v1\nallow := true\n"})
    try:
        p = proxy_factory([
            bucket(moto_auth, "closed", "/closed",
                   opa_authz(own.url, "p/allow", opa_timeout_ms=300, cache={"enabled": False})),
            bucket(moto_auth, "open", "/open",
                   opa_authz(own.url, "p/allow", opa_timeout_ms=300, opa_fail_mode="open",
                             cache={"enabled": False})),
        ], extra={"jwt": jwt_cfg(key)})
        tok = key.mint({"sub": "alice"}, kid=None)
        assert_object(get(p, "/closed/top.txt", tok), "top.txt")
        own.sigstop()
        t0 = time.monotonic()
        assert_unavailable(get(p, "/closed/top.txt", tok))
        took = time.monotonic() - t0
        assert took < 2.0, f"the 300 ms budget took {took:.2f} s"
        assert_object(get(p, "/open/top.txt", tok), "top.txt")
        def check(m):
            assert series(m, "yatagarasu_authz_engine_errors_total", bucket="closed",
                          kind="timeout") == 1
        metrics_eventually(p, check)
        own.sigcont()
        yg_procs.wait_until(lambda: get(p, "/closed/top.txt", tok).status == 200, timeout=5,
                            what="OPA answering again")
    finally:
        own.sigcont()
        own.stop()


class _FlakyEngine:
    """FAKE engine: answers 503 to every other request, {"result": true} otherwise (a real OPA
    will not fail on demand)."""

    def __init__(self):
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.calls += 1
                if outer.calls % 2 == 1:
                    body, status = b'{"code":"unavailable"}', 503
                else:
                    body, status = b'{"result": true}', 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer((H, 0), Handler)
        self.url = f"http://{H}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_transient_engine_error_is_retried_once(proxy_factory, moto_auth, key):
    flaky = _FlakyEngine()
    try:
        p = proxy_factory([bucket(moto_auth, "flaky", "/flaky",
                                  opa_authz(flaky.url, "p/allow", cache={"enabled": False}))],
                          extra={"jwt": jwt_cfg(key)})
        tok = key.mint({"sub": "alice"}, kid=None)
        for _ in range(3):
            assert_object(get(p, "/flaky/top.txt", tok), "top.txt")
        assert flaky.calls == 6
        def check(m):
            assert series(m, "yatagarasu_authz_engine_errors_total", bucket="flaky",
                          kind="status") == 3
            assert authz_count(m, "flaky", "allowed") == 3
        metrics_eventually(p, check)
    finally:
        flaky.stop()


# --- OpenFGA ----------------------------------------------------------------------------

def test_openfga_relationships(proxy_factory, moto_auth, fga, key):
    p = proxy_factory([bucket(moto_auth, "fga", "/fga", fga_authz(fga))],
                      extra={"jwt": jwt_cfg(key)})
    tok = {u: key.mint({"sub": u}, kid=None) for u in ("alice", "bob", "carol", "dave")}
    # Direct grant on the file.
    assert_object(get(p, "/fga/reports/2024/q1.pdf", tok["alice"]), "reports/2024/q1.pdf")
    assert_denied(get(p, "/fga/reports/2024/q2.pdf", tok["alice"]))
    # Folder inheritance: viewer of reports/ views reports/2024/*.
    assert_object(get(p, "/fga/reports/2024/q1.pdf", tok["bob"]), "reports/2024/q1.pdf")
    assert_object(get(p, "/fga/reports/2024/q2.pdf", tok["bob"]), "reports/2024/q2.pdf")
    assert_denied(get(p, "/fga/top.txt", tok["bob"]))
    # The bucket's owner reads everything.
    for k in ("top.txt", "reports/2024/q2.pdf", "users/bob/notes.txt"):
        assert_object(get(p, f"/fga/{k}", tok["carol"]), k)
    # A folder shared with everyone (user:*); nothing else for a user with no tuples.
    assert_object(get(p, "/fga/shared/team/doc.txt", tok["dave"]), "shared/team/doc.txt")
    assert_denied(get(p, "/fga/reports/2024/q1.pdf", tok["dave"]))
    # No `sub` claim: denied without asking OpenFGA.
    before = fga.check_count()
    anon = key.mint({"sub": None, "name": "nobody"}, kid=None)
    assert_denied(get(p, "/fga/shared/team/doc.txt", anon), "'sub' claim")
    assert fga.check_count() == before
    def check(m):
        assert authz_count(m, "fga", "allowed") == 7
        assert authz_count(m, "fga", "denied") == 4
    metrics_eventually(p, check)


def test_openfga_user_claim_dot_path(proxy_factory, moto_auth, fga, key):
    p = proxy_factory([bucket(moto_auth, "fga-claim", "/fc",
                              fga_authz(fga, openfga_user_claim="profile.handle"))],
                      extra={"jwt": jwt_cfg(key)})
    assert_object(get(p, "/fc/top.txt", key.mint({"sub": "x", "profile": {"handle": "erin"}},
                                                 kid=None)), "top.txt")
    assert_denied(get(p, "/fc/top.txt", key.mint({"sub": "erin"}, kid=None)))


def test_openfga_cache_respects_allow_and_deny_ttls(proxy_factory, moto_auth, fga, key):
    p = proxy_factory([bucket(moto_auth, "fga", "/fga", fga_authz(
        fga, openfga_cache_ttl_seconds=3, cache={"negative_ttl_seconds": 1}))],
        extra={"jwt": jwt_cfg(key)})
    frank = key.mint({"sub": "frank"}, kid=None)
    target = "/fga/departments/eng/plan.txt"
    tup = [("user:frank", "viewer", "file:fga/departments/eng/plan.txt")]
    before = fga.check_count()
    for _ in range(5):
        assert_denied(get(p, target, frank))
    assert fga.check_count() == before + 1
    # Granted now: the cached deny lasts at most its 1 s TTL.
    fga.write_tuples(fga.store_id, tup)
    t0 = time.monotonic()
    yg_procs.wait_until(lambda: get(p, target, frank).status == 200, timeout=4,
                        what="the cached deny to expire")
    assert time.monotonic() - t0 < 2.5
    # Revoked: the cached allow holds for its 3 s TTL, then the deny takes effect.
    granted_at = time.monotonic()
    fga.delete_tuples(fga.store_id, tup)
    yg_procs.wait_until(lambda: get(p, target, frank).status == 403, timeout=6,
                        what="the cached allow to expire")
    assert time.monotonic() - granted_at >= 1.0
    def check(m):
        assert series(m, "yatagarasu_authz_cache_lookups_total", bucket="fga", result="hit") >= 4
    metrics_eventually(p, check)


def test_openfga_api_token_and_outage(proxy_factory, moto_auth, key, tmp_path):
    secret = register_secret("fga-preshared-" + "k3y9Qz7")
    own = yg_authz.OpenFga().start(tmp_path / "fga-own", preshared_key=secret)
    try:
        store = own.create_store("tok")
        model = own.write_model(store, json.loads((EXAMPLES / "openfga" / "model.json")
                                                  .read_text()))
        own.write_tuples(store, [("user:alice", "viewer", "bucket:tok")], model_id=model)
        own.store_id, own.model_id = store, model
        p = proxy_factory([
            bucket(moto_auth, "tok", "/tok", fga_authz(own, openfga_api_token=secret)),
            bucket(moto_auth, "notok", "/notok", fga_authz(own)),
            bucket(moto_auth, "tok-open", "/tok-open",
                   fga_authz(own, openfga_api_token=secret, openfga_fail_mode="open")),
            bucket(moto_auth, "notok-open", "/notok-open",
                   fga_authz(own, openfga_fail_mode="open")),
        ], extra={"jwt": jwt_cfg(key)})
        alice = key.mint({"sub": "alice"}, kid=None)
        assert_object(get(p, "/tok/top.txt", alice), "top.txt")
        # OpenFGA refuses a missing token (401): an error, never a deny; and a refusal of our
        # own request (misconfiguration) fails closed even in fail_mode open.
        assert_unavailable(get(p, "/notok/top.txt", alice))
        assert_unavailable(get(p, "/notok-open/top.txt", alice))
        assert "authorization refused by the engine" in p.logs().decode()
        own.stop()
        assert_unavailable(get(p, "/tok/reports/2024/q1.pdf", alice))
        assert_object(get(p, "/tok-open/reports/2024/q1.pdf", alice), "reports/2024/q1.pdf")
        def check(m):
            assert authz_count(m, "notok", "failed_closed") == 1
            assert series(m, "yatagarasu_authz_engine_errors_total", bucket="notok",
                          kind="status") == 1  # a 401 is not retried
            assert authz_count(m, "tok", "failed_closed") == 1
            assert authz_count(m, "tok-open", "failed_open") == 1
        metrics_eventually(p, check)
    finally:
        own.stop()


# --- together, and reload ---------------------------------------------------------------

def test_mixed_buckets_served_correctly_at_once(proxy_factory, moto_auth, opa, fga, key):
    p = proxy_factory([
        bucket(moto_auth, "pub", "/pub", None, auth=False),
        bucket(moto_auth, "jwt", "/jwt", None),
        bucket(moto_auth, "opa", "/opa", opa_authz(opa.url)),
        bucket(moto_auth, "fga", "/fga", fga_authz(fga)),
    ], extra={"jwt": jwt_cfg(key)})
    alice = key.mint({"sub": "alice"}, kid=None)
    bob = key.mint({"sub": "bob"}, kid=None)
    cases = [  # (target, token, status, key)
        ("/pub/top.txt", None, 200, "top.txt"),
        ("/jwt/top.txt", None, 401, None),
        ("/jwt/top.txt", alice, 200, "top.txt"),
        ("/opa/users/alice/notes.txt", alice, 200, "users/alice/notes.txt"),
        ("/opa/users/alice/notes.txt", bob, 403, None),
        ("/fga/reports/2024/q2.pdf", bob, 200, "reports/2024/q2.pdf"),
        ("/fga/reports/2024/q2.pdf", alice, 403, None),
        ("/fga/top.txt", None, 401, None),
    ]
    errors = []

    def worker(i):
        for n in range(20):
            target, tok, status, k = cases[(i + n) % len(cases)]
            r = get(p, target, tok)
            if r.status != status or (k is not None and r.body != OBJ[k].body):
                errors.append((target, r.status, r.body[:100]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


def test_reload_keeps_unchanged_decision_caches_and_clears_changed_ones(
        proxy_factory, moto_auth, opa, key):
    opa.put_policy("flip", "package flip\nimport rego.v1\nallow := true\n")
    p = proxy_factory([
        bucket(moto_auth, "keep", "/keep", opa_authz(opa.url, "flip/allow")),
        bucket(moto_auth, "change", "/change", opa_authz(opa.url, "flip/allow")),
    ], extra={"jwt": jwt_cfg(key)})
    tok = key.mint({"sub": "alice"}, kid=None)
    assert_object(get(p, "/keep/top.txt", tok), "top.txt")
    assert_object(get(p, "/change/top.txt", tok), "top.txt")
    opa.put_policy("flip", "package flip\nimport rego.v1\nallow := false\n")
    # Cached (60 s default): both still allowed.
    assert get(p, "/keep/top.txt", tok).status == 200
    assert get(p, "/change/top.txt", tok).status == 200
    # Reload with one bucket's authorization changed (its allow TTL): only its cache starts
    # empty, so only it asks OPA again and sees the deny.
    doc = yaml.safe_load(p.config_path.read_text())
    for b in doc["buckets"]:
        if b["name"] == "change":
            b["authorization"]["opa_cache_ttl_seconds"] = 30
    p.write_config(doc)
    p.send_signal(signal.SIGHUP)
    yg_procs.wait_until(lambda: series(scrape(p.port), "yatagarasu_config_generation") == 2,
                        timeout=10, what="the reload")
    assert get(p, "/keep/top.txt", tok).status == 200
    assert_denied(get(p, "/change/top.txt", tok))
    opa.put_policy("flip", "package flip\nimport rego.v1\nallow := true\n")


def test_config_refuses_credentials_in_opa_input(yg_binary, moto_auth, opa, key, tmp_path):
    for header in ("Authorization", "cookie", "X-Token"):
        b = bucket(moto_auth, "opa", "/opa", opa_authz(opa.url, opa_input_headers=[header]))
        jwt = dict(jwt_cfg(key), token_sources=[{"type": "bearer"},
                                                {"type": "header", "name": "X-Token"}])
        cfg = tmp_path / f"bad-{header}.yaml"
        cfg.write_text(json.dumps(config_doc(yg_procs.free_port(), [b], extra={"jwt": jwt})))
        r = run_cli(yg_binary, "--test", "-c", str(cfg))
        out = (r.stdout + r.stderr).decode()
        assert r.returncode != 0, out
        assert "never sent to OPA" in out, out
