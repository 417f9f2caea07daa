"""Secrets (HTTP-2, HTTP-6, CONF-4, OBS-3): the S3 secret key, client bearer tokens, cookies
and query tokens never appear in a response or in the proxy's log, and the client's
credentials are never forwarded to S3."""

from __future__ import annotations

import catalog
from httpc import RawConn, request, request_bytes
from layouts import FAKE_ACCESS_KEY, fake_bucket, standard_buckets
from proxy import bucket_block, register_secret, run_cli, s3_block

TOKEN = register_secret("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.CLIENTBEARERSECRET42")
COOKIE = register_secret("COOKIESECRETVALUE7781")
QUERY_TOKEN = register_secret("QUERYTOKENSECRET5512")
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def client_headers():
    return {"Authorization": f"Bearer {TOKEN}", "Cookie": f"session={COOKIE}; theme=dark",
            "X-Api-Key": TOKEN}


def test_client_credentials_are_not_forwarded_to_s3(proxy_factory, fault_server):
    fake = fault_server("ok", body=b"ok")
    p = proxy_factory([fake_bucket(fake)])
    hdrs = client_headers()
    hdrs.update({"Range": "bytes=0-1", "If-None-Match": '"abc"', "Proxy-Authorization": f"Basic {TOKEN}",
                 "Connection": "keep-alive, X-Hop", "X-Hop": "hop-by-hop-value",
                 "Keep-Alive": "timeout=5", "TE": "trailers", "Upgrade": "websocket"})
    r = request(p.host, p.port, "GET", "/fake/dir/obj.txt", headers=hdrs)
    assert r.status in (200, 206)
    up = fake.wait_for_requests(1)[-1]
    raw = up.raw_head.decode("latin-1")
    assert TOKEN not in raw and COOKIE not in raw, f"client credentials forwarded:\n{raw}"
    auth = up.header("authorization") or ""
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=" + FAKE_ACCESS_KEY + "/"), auth
    assert "SignedHeaders=" in auth and "Signature=" in auth
    assert up.header("x-amz-content-sha256") == EMPTY_SHA256
    assert up.header("x-amz-date")
    assert up.header("host") == f"127.0.0.1:{fake.port}"
    assert up.header("cookie") is None
    assert up.header("proxy-authorization") is None
    for hop in ("x-hop", "keep-alive", "te", "upgrade"):
        assert up.header(hop) is None, f"hop-by-hop header {hop} forwarded"
    assert up.header("range") == "bytes=0-1", "Range must be forwarded"
    assert up.header("if-none-match") == '"abc"', "If-None-Match must be forwarded"
    assert "fake-backend-secret" not in raw


def test_no_secret_in_any_response_or_the_log(proxy_factory, moto_auth, moto_noauth):
    wrong = register_secret("WRONG-secret-" + moto_auth.secret_key[:6][::-1] + "-xyz")
    bad = bucket_block("bad", "/bad", s3_block(moto_auth.url, catalog.BUCKET_PUBLIC,
                                               moto_auth.access_key, wrong))
    p = proxy_factory(standard_buckets(moto_auth, moto_noauth) + [bad],
                      logging={"level": "debug"})
    secrets = [moto_auth.secret_key, wrong, TOKEN, COOKIE, QUERY_TOKEN]
    targets = [("GET", "/public/hello.txt"), ("HEAD", "/public/hello.txt"),
               ("GET", "/public/missing.txt"), ("GET", "/unknown/x"),
               ("GET", "/public/../a/secret.txt"), ("PUT", "/public/x.txt"),
               ("GET", "/bad/hello.txt"), ("GET", f"/public/hello.txt?token={QUERY_TOKEN}"),
               ("GET", f"/nope/x?access_token={QUERY_TOKEN}"),
               ("GET", f"/public/missing.txt?X-Amz-Signature={QUERY_TOKEN}"),
               ("GET", "/public/" + "a" * 9000 + f"?t={QUERY_TOKEN}"),
               ("GET", "/health"), ("GET", "/ready")]
    dumps = []
    for method, target in targets:
        r = request(p.host, p.port, method, target, headers=client_headers())
        dumps.append((method, target[:60], r.status, r.text_dump()))
    with RawConn(p.host, p.port) as c:
        c.send(request_bytes("GET", "/public/hello.txt",
                             headers=[("Authorization", f"Bearer {TOKEN}"), ("X-Big", "b" * 70000)]))
        r = c.read_response()
        dumps.append(("GET", "431", r.status, r.text_dump()))
    assert [d[2] for d in dumps[:7]] == [200, 200, 404, 404, 400, 405, 502], [d[:3] for d in dumps]
    for method, target, status, dump in dumps:
        for s in secrets:
            assert s not in dump, f"{method} {target} ({status}) response contains a secret"
    logs = p.logs().decode("utf-8", "replace")
    assert logs.strip(), "debug logging produced no log at all"
    for s in secrets:
        assert s not in logs, f"the proxy log contains a secret ({s[:4]}...)"


def test_test_flag_and_errors_do_not_print_the_secret(yg_binary, tmp_path, moto_auth):
    text = (f"server:\n  address: \"127.0.0.1\"\n  port: 18081\n  bogus_key: 1\n"
            f"buckets:\n  - name: p\n    path_prefix: /p\n    s3:\n"
            f"      bucket: {catalog.BUCKET_PUBLIC}\n      region: us-east-1\n"
            f"      endpoint: {moto_auth.url}\n      access_key: {moto_auth.access_key}\n"
            f"      secret_key: {moto_auth.secret_key}\n      timeout: soon\n")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    r = run_cli(yg_binary, "--test", "--config", str(cfg))
    assert r.returncode != 0
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert moto_auth.secret_key not in out
