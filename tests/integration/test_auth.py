"""AUTH-1..6 end to end: the built proxy, real moto behind it, tokens minted by PyJWT with keys
generated per run, and a JWKS server run by the test (tests/support/jwks_server.py)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

import catalog
import httpc
import yg_procs
from jwks_server import ALGS, JwksServer, make_key, write_pem
from layouts import moto_bucket
from prom import eventually, series
from proxy import register_secret

H = "127.0.0.1"


def get(p, target, headers=None):
    return httpc.request(H, p.port, "GET", target, headers=headers)


def bearer(tok):
    return {"Authorization": f"Bearer {register_secret(tok)}"}


def assert_401(r, invalid: bool):
    assert r.status == 401, r.text_dump()
    want = 'Bearer error="invalid_token"' if invalid else "Bearer"
    assert r.header("WWW-Authenticate") == want, r.text_dump()
    body = r.json()
    assert body["status"] == 401 and "request_id" in body


@pytest.fixture(scope="module")
def keys():
    return {a: make_key(a) for a in ALGS}


def protected_public(moto_auth):
    b = moto_bucket(moto_auth, "private", "/private", catalog.BUCKET_PUBLIC)
    b["auth"] = {"enabled": True}
    return [b, moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)]


def jwt_all_algs(keys, tmp_path, **extra):
    hs = keys["HS256"]
    cfg = {"enabled": True, "algorithm": "HS256", "secret": register_secret(hs.private.decode()),
           "keys": []}
    for a, k in keys.items():
        if a.startswith("HS"):
            cfg["keys"].append({"id": k.kid, "algorithm": a,
                                "secret": register_secret(k.private.decode())})
        else:
            cfg["keys"].append({"id": k.kid, "algorithm": a, "path": write_pem(k, tmp_path)})
    cfg.update(extra)
    return cfg


def test_every_algorithm_end_to_end(proxy_factory, moto_auth, keys, tmp_path):
    p = proxy_factory(protected_public(moto_auth), extra={"jwt": jwt_all_algs(keys, tmp_path)})
    for a, k in keys.items():
        r = get(p, "/private/hello.txt", bearer(k.mint()))
        assert r.status == 200 and r.body == catalog.HELLO.body, (a, r.text_dump())
    # The public bucket needs no token; the protected one refuses a missing token.
    assert get(p, "/public/hello.txt").status == 200
    assert_401(get(p, "/private/hello.txt"), invalid=False)


def test_confusion_tampering_and_none_are_refused(proxy_factory, moto_auth, keys, tmp_path):
    p = proxy_factory(protected_public(moto_auth), extra={"jwt": jwt_all_algs(keys, tmp_path)})
    rs = keys["RS256"]
    # HS256 signed with the RSA public key's PEM as the secret, naming the RSA key's kid.
    import hmac, hashlib, base64  # noqa: E401

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": rs.kid}).encode())
    body = b64(json.dumps({"sub": "mallory", "exp": int(time.time()) + 600}).encode())
    sig = b64(hmac.new(rs.public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    assert_401(get(p, "/private/hello.txt", bearer(f"{head}.{body}.{sig}")), invalid=True)
    # alg none
    none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    assert_401(get(p, "/private/hello.txt", bearer(f"{none}.{body}.")), invalid=True)
    # A valid token with its payload swapped.
    good = keys["ES256"].mint()
    h, _, s = good.split(".")
    assert_401(get(p, "/private/hello.txt", bearer(f"{h}.{body}.{s}")), invalid=True)
    # Not a JWT at all, and an over-long one.
    assert_401(get(p, "/private/hello.txt", bearer("not-a-token")), invalid=True)
    assert_401(get(p, "/private/hello.txt", bearer("a" * 20000 + ".b.c")), invalid=True)
    # An RS256 token presented with the EC key's kid.
    assert_401(get(p, "/private/hello.txt", bearer(rs.mint(kid=keys["ES256"].kid))),
               invalid=True)


def test_time_issuer_audience_and_claim_rules(proxy_factory, moto_auth, keys):
    hs = keys["HS512"]
    cfg = {"enabled": True, "algorithm": "HS512", "secret": register_secret(hs.private.decode()),
           "issuer": "https://issuer.test/", "audience": "yatagarasu", "leeway_seconds": 5,
           "claims": [{"claim": "org.role", "operator": "in", "value": ["reader", "admin"]},
                      {"claim": "email", "operator": "regex", "value": "@example\\.com$"}]}
    p = proxy_factory(protected_public(moto_auth), extra={"jwt": cfg})
    ok = {"iss": "https://issuer.test/", "aud": ["other", "yatagarasu"],
          "org": {"role": "reader"}, "email": "ann@example.com"}
    r = get(p, "/private/hello.txt", bearer(hs.mint(ok, kid=None)))
    assert r.status == 200, r.text_dump()
    now = int(time.time())
    for bad in ({"exp": now - 60}, {"nbf": now + 120}, {"iss": "https://evil.test/"},
                {"aud": "someone-else"}):
        assert_401(get(p, "/private/hello.txt", bearer(hs.mint({**ok, **bad}, kid=None))),
                   invalid=True)
    # Within the leeway still passes.
    assert get(p, "/private/hello.txt",
               bearer(hs.mint({**ok, "exp": now - 2}, kid=None))).status == 200
    # A valid token failing a rule: 403.
    for bad in ({"org": {"role": "guest"}}, {"email": "eve@evil.test"}, {"org": "flat"}):
        r = get(p, "/private/hello.txt", bearer(hs.mint({**ok, **bad}, kid=None)))
        assert r.status == 403, r.text_dump()
        assert r.header("WWW-Authenticate") is None


def test_token_sources_in_order(proxy_factory, moto_auth, keys):
    hs = keys["HS256"]
    cfg = {"enabled": True, "algorithm": "HS256", "secret": register_secret(hs.private.decode()),
           "token_sources": [{"type": "header", "name": "X-Auth", "prefix": "Token "},
                             {"type": "query", "name": "access_token"},
                             {"type": "bearer"}]}
    p = proxy_factory(protected_public(moto_auth), extra={"jwt": cfg})
    tok = register_secret(hs.mint(kid=None))
    assert get(p, "/private/hello.txt", {"X-Auth": f"Token {tok}"}).status == 200
    assert get(p, f"/private/hello.txt?access_token={tok}").status == 200
    assert get(p, "/private/hello.txt", {"Authorization": f"bEaReR {tok}"}).status == 200
    # The first source found is judged: a bad header token is not rescued by a good query one.
    assert_401(get(p, f"/private/hello.txt?access_token={tok}", {"X-Auth": "Token garbage"}),
               invalid=True)
    # A header without its prefix is no token.
    assert_401(get(p, "/private/hello.txt", {"X-Auth": tok}), invalid=False)
    p.stop()
    assert tok.encode() not in p.logs()


def test_bucket_override_and_audit_user(proxy_factory, moto_auth, keys, tmp_path):
    glob, own = keys["HS256"], keys["HS384"]
    buckets = protected_public(moto_auth)
    b2 = moto_bucket(moto_auth, "team", "/team", catalog.BUCKET_PUBLIC)
    b2["auth"] = {"enabled": True, "jwt": {"algorithm": "HS384",
                                           "secret": register_secret(own.private.decode())}}
    buckets.append(b2)
    audit = tmp_path / "audit.log"
    p = proxy_factory(buckets, extra={
        "jwt": {"algorithm": "HS256", "secret": register_secret(glob.private.decode())},
        "audit_log": {"enabled": True, "outputs": ["file"], "file": {"path": str(audit)}}})
    assert get(p, "/private/hello.txt", bearer(glob.mint({"sub": "alice"}, kid=None))).status == 200
    assert get(p, "/team/hello.txt", bearer(own.mint({"sub": "bob"}, kid=None))).status == 200
    assert_401(get(p, "/team/hello.txt", bearer(glob.mint(kid=None))), invalid=True)
    assert_401(get(p, "/private/hello.txt", bearer(own.mint(kid=None))), invalid=True)
    yg_procs.wait_until(lambda: audit.exists() and len(audit.read_text().splitlines()) >= 4,
                        timeout=5, what="audit lines")
    users = [json.loads(l)["user"] for l in audit.read_text().splitlines()]
    assert users[:2] == ["alice", "bob"] and users[2:] == [None, None]


def test_admin_api_needs_admin_claims(proxy_factory, moto_auth, keys):
    hs = keys["HS256"]
    cfg = {"algorithm": "HS256", "secret": register_secret(hs.private.decode()),
           "admin_claims": [{"claim": "roles", "operator": "contains", "value": "admin"}]}
    p = proxy_factory(protected_public(moto_auth), extra={"jwt": cfg})
    assert_401(get(p, "/admin/stats"), invalid=False)
    assert get(p, "/admin/stats", bearer(hs.mint({"roles": ["reader"]}, kid=None))).status == 403
    r = get(p, "/admin/stats", bearer(hs.mint({"roles": ["reader", "admin"]}, kid=None)))
    assert r.status == 200 and "requests_total" in r.json()
    # Metrics see the outcomes.
    m = get(p, "/metrics").body.decode()
    assert 'yatagarasu_auth_invalid_tokens_total{reason="bad_signature"} 0' in m
    assert "yatagarasu_auth_requests_total" in m


def test_metrics_count_auth_outcomes(proxy_factory, moto_auth, keys):
    hs = keys["HS256"]
    cfg = {"algorithm": "HS256", "secret": register_secret(hs.private.decode()),
           "claims": [{"claim": "sub", "operator": "equals", "value": "alice"}]}
    p = proxy_factory(protected_public(moto_auth), extra={"jwt": cfg})
    get(p, "/private/hello.txt")
    get(p, "/private/hello.txt", bearer(hs.mint({"sub": "alice"}, kid=None)))
    get(p, "/private/hello.txt", bearer(hs.mint({"sub": "bob"}, kid=None)))
    get(p, "/private/hello.txt", bearer(keys["HS384"].mint(kid=None)))
    get(p, "/private/hello.txt", bearer(hs.mint({"exp": int(time.time()) - 3600}, kid=None)))
    def check(m):
        assert series(m, "yatagarasu_auth_requests_total", bucket="private", outcome="missing") == 1
        assert series(m, "yatagarasu_auth_requests_total", bucket="private", outcome="allowed") == 1
        assert series(m, "yatagarasu_auth_requests_total", bucket="private",
                      outcome="forbidden") == 1
        assert series(m, "yatagarasu_auth_requests_total", bucket="private", outcome="invalid") == 2
        assert series(m, "yatagarasu_auth_invalid_tokens_total", reason="alg_not_allowed") == 1
        assert series(m, "yatagarasu_auth_invalid_tokens_total", reason="expired") == 1
        assert series(m, "yatagarasu_requests_total", bucket="private", method="GET",
                      status="401") == 3
        assert series(m, "yatagarasu_requests_total", bucket="private", method="GET",
                      status="403") == 1

    eventually(p.port, check)


# ---------------------------------------------------------------------------------------------
# JWKS

def jwks_cfg(url, **extra):
    cfg = {"algorithm": "RS256", "jwks_url": url, "jwks_refresh_interval_secs": 2,
           "jwks_refetch_min_interval_secs": 2}
    cfg.update(extra)
    return cfg


def test_jwks_rotation_and_refetch_rate_limit(proxy_factory, moto_auth):
    srv = JwksServer().start()
    try:
        k1 = make_key("RS256", "k1")
        srv.keys = [k1]
        p = proxy_factory(protected_public(moto_auth),
                          extra={"jwt": jwks_cfg(srv.url, jwks_refresh_interval_secs=3600,
                                                 jwks_refetch_min_interval_secs=2)})
        yg_procs.wait_until(lambda: get(p, "/private/hello.txt", bearer(k1.mint())).status == 200,
                            timeout=10, what="k1 accepted")
        # A new kid appears: the first token naming it triggers one refetch, then passes.
        k2 = make_key("RS256", "k2")
        srv.keys = [k1, k2]
        hits = srv.hits
        yg_procs.wait_until(lambda: get(p, "/private/hello.txt", bearer(k2.mint())).status == 200,
                            timeout=10, what="k2 accepted after a refetch")
        assert srv.hits - hits >= 1
        # A flood of unknown kids: at most one fetch per 2 s window.
        time.sleep(2.1)
        hits, t0 = srv.hits, time.monotonic()
        stranger = make_key("RS256", "nobody")
        for i in range(60):
            assert_401(get(p, "/private/hello.txt", bearer(stranger.mint(kid=f"k-{i}"))),
                       invalid=True)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)
        assert srv.hits - hits <= int(elapsed / 2) + 2, (srv.hits - hits, elapsed)
        # The old kid removed: rejected once the set was refetched.
        srv.keys = [k2]
        get(p, "/private/hello.txt", bearer(stranger.mint(kid="trigger-refetch")))
        yg_procs.wait_until(lambda: get(p, "/private/hello.txt", bearer(k1.mint())).status == 401,
                            timeout=10, what="k1 rejected after removal")
        assert get(p, "/private/hello.txt", bearer(k2.mint())).status == 200
    finally:
        srv.stop()


def test_jwks_down_at_start_then_up_and_garbage_keeps_last_good(proxy_factory, moto_auth):
    port = yg_procs.free_port()
    url = f"http://127.0.0.1:{port}/jwks.json"
    k = make_key("ES256", "ec1")
    p = proxy_factory(protected_public(moto_auth),
                      extra={"jwt": jwks_cfg(url, algorithm="ES256")})
    # Down: the proxy runs, /ready says so, protected requests get 401, public ones work.
    ready = get(p, "/ready").json()
    assert ready["buckets"]["private"]["status"] == "jwks unavailable"
    assert_401(get(p, "/private/hello.txt", bearer(k.mint())), invalid=True)
    assert get(p, "/public/hello.txt").status == 200
    srv = JwksServer()
    srv.keys = [k]
    srv.start(port)
    try:
        yg_procs.wait_until(lambda: get(p, "/private/hello.txt", bearer(k.mint())).status == 200,
                            timeout=15, what="accepted once the JWKS is up")
        assert get(p, "/ready").json()["buckets"]["private"]["status"] == "ok"
        srv.mode = "garbage"
        hits = srv.hits
        yg_procs.wait_until(lambda: srv.hits > hits + 1, timeout=10, what="refreshes")
        assert get(p, "/private/hello.txt", bearer(k.mint())).status == 200
        m = get(p, "/metrics").body.decode()
        failed = [l for l in m.splitlines()
                  if l.startswith('yatagarasu_jwks_fetches_total{jwt="global",result="failed"}')]
        assert failed and float(failed[0].split()[-1]) >= 2
        assert 'yatagarasu_jwks_ready{jwt="global"} 1' in m
    finally:
        srv.stop()


def test_bad_key_file_fails_start(proxy_factory, moto_auth, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    p = proxy_factory(protected_public(moto_auth),
                      extra={"jwt": {"algorithm": "RS256", "rsa_public_key_path": str(bad)}},
                      start=False)
    r = subprocess.run([str(p.binary), "--config", str(p.config_path)], capture_output=True,
                       timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r
    assert b"rsa_public_key_path" in r.stderr, r.stderr


def test_protected_responses_are_private(proxy_factory, moto_auth, keys):
    """A shared cache must never store a protected object (it would serve it without a token):
    S3's `Cache-Control: max-age=60, public` becomes `private, max-age=60`."""
    hs = keys["HS256"]
    p = proxy_factory(protected_public(moto_auth),
                      extra={"jwt": {"algorithm": "HS256",
                                     "secret": register_secret(hs.private.decode())}})
    key = catalog.HEADERS_OBJ.key
    r = get(p, f"/private/{key}", bearer(hs.mint(kid=None)))
    assert r.status == 200 and r.body == catalog.HEADERS_OBJ.body
    assert r.header("Cache-Control") == "private, max-age=60", r.header("Cache-Control")
    pub = get(p, f"/public/{key}")
    assert pub.header("Cache-Control") == "max-age=60, public"
    assert get(p, "/private/hello.txt", bearer(hs.mint(kid=None))).header(
        "Cache-Control") == "private"


def test_reload_keeps_jwks_keys_while_the_new_client_fetches(proxy_factory, moto_auth):
    srv = JwksServer().start()
    k = make_key("RS256", "r1")
    srv.keys = [k]
    try:
        p = proxy_factory(protected_public(moto_auth),
                          extra={"jwt": jwks_cfg(srv.url, jwks_refresh_interval_secs=3600)})
        yg_procs.wait_until(lambda: get(p, "/private/hello.txt", bearer(k.mint())).status == 200,
                            timeout=10, what="accepted")
        srv.mode = "500"  # the JWKS is failing when the reload happens
        p.send_signal(__import__("signal").SIGHUP)
        yg_procs.wait_until(lambda: b"configuration reloaded" in p.logs(), timeout=10,
                            what="reload")
        for _ in range(5):
            assert get(p, "/private/hello.txt", bearer(k.mint())).status == 200
        assert get(p, "/ready").json()["buckets"]["private"]["status"] == "ok"
    finally:
        srv.stop()
