"""/health and /ready (OBS-1)."""

from __future__ import annotations

import time

from checks import assert_request_id
from httpc import request
from proxy import run_cli


def uptime_key(doc: dict) -> str:
    """`uptime` or a unit-suffixed form such as `uptime_seconds`."""
    keys = [k for k in doc if k.startswith("uptime")]
    assert keys, f"/health has no uptime: {doc}"
    return keys[0]


def test_health_is_200_json_with_status_uptime_version(proxy, yg_binary):
    r = request(proxy.host, proxy.port, "GET", "/health")
    assert r.status == 200
    assert (r.header("content-type") or "").startswith("application/json")
    assert r.header("content-length") == str(len(r.body))
    doc = r.json()
    assert {"status", "version"} <= set(doc), doc
    assert isinstance(doc[uptime_key(doc)], (int, float)), doc
    assert_request_id(r)
    v = run_cli(yg_binary, "--version").stdout.decode()
    assert str(doc["version"]) in v, f"/health version {doc['version']!r} vs --version {v!r}"


def test_health_uptime_grows(proxy):
    def uptime():
        doc = request(proxy.host, proxy.port, "GET", "/health").json()
        return float(doc[uptime_key(doc)])
    a = uptime()
    time.sleep(1.2)
    assert uptime() > a


def test_ready_is_200_json_when_serving(proxy):
    r = request(proxy.host, proxy.port, "GET", "/ready")
    assert r.status == 200
    assert (r.header("content-type") or "").startswith("application/json")
    r.json()
    assert_request_id(r)


def test_head_health(proxy):
    r = request(proxy.host, proxy.port, "HEAD", "/health")
    assert r.status == 200 and r.body == b""
