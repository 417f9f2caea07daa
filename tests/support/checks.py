"""Assertions shared by the integration tests (what a client of the proxy sees)."""

from __future__ import annotations

import http
import json
import re
import time
from typing import Optional

from httpc import Response

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# RFC 9110 §15 renamed a few reason phrases; Python's http.HTTPStatus still has the RFC 2616
# ones. Either spelling is accepted.
RFC9110_PHRASES = {413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
                   422: "Unprocessable Content"}
RFC7231_PHRASES = {413: "Payload Too Large"}


def reason_phrases(status: int) -> set:
    out = {http.HTTPStatus(status).phrase}
    for table in (RFC9110_PHRASES, RFC7231_PHRASES):
        if status in table:
            out.add(table[status])
    return out


def assert_request_id(resp: Response, sent: Optional[str] = None) -> str:
    rid = resp.header("x-request-id")
    assert rid, f"no X-Request-ID on {resp.status} response: {resp.headers}"
    assert REQUEST_ID_RE.match(rid), f"X-Request-ID {rid!r} is not [A-Za-z0-9._:-]{{1,128}}"
    if sent is not None:
        assert rid == sent, f"sane client X-Request-ID {sent!r} not echoed (got {rid!r})"
    return rid


def assert_json_error(resp: Response, status: int, *, allow_statuses=()) -> dict:
    """HTTP-2: a proxy-generated error is JSON {error, message, status, request_id} with
    Content-Type application/json and a Content-Length."""
    expected = (status,) + tuple(allow_statuses)
    assert resp.status in expected, (
        f"expected {expected}, got {resp.status}: {resp.body[:300]!r}")
    ctype = resp.header("content-type") or ""
    assert ctype.split(";")[0].strip().lower() == "application/json", (
        f"error Content-Type is {ctype!r}, want application/json; body {resp.body[:200]!r}")
    assert resp.header("content-length") is not None, "error response has no Content-Length"
    assert int(resp.header("content-length")) == len(resp.body)
    try:
        doc = json.loads(resp.body)
    except ValueError as e:
        raise AssertionError(f"error body is not JSON: {resp.body[:300]!r}") from e
    for key in ("error", "message", "status", "request_id"):
        assert key in doc, f"error JSON lacks {key!r}: {doc}"
    assert doc["status"] == resp.status, f"JSON status {doc['status']} != HTTP {resp.status}"
    assert doc["error"] in reason_phrases(resp.status), (
        f"JSON error {doc['error']!r} is not the reason phrase of {resp.status}")
    assert isinstance(doc["message"], str) and doc["message"], "empty error message"
    rid = assert_request_id(resp)
    assert doc["request_id"] == rid, "JSON request_id differs from the X-Request-ID header"
    return doc


def assert_proxied(resp: Response) -> None:
    """HTTP-4/HTTP-5 on a response that came from S3 (no cache configured yet)."""
    assert_request_id(resp)
    assert resp.header("x-cache") == "BYPASS", f"X-Cache is {resp.header('x-cache')!r}"


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, default=str)


def log_messages(p) -> list:
    """Every log line of proxy `p` as text; JSON lines are decoded so escaped characters in
    paths compare as the user would read them."""
    out = []
    for line in p.logs().decode("utf-8", "replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        out.append(" ".join(str(v) for v in doc.values()) if isinstance(doc, dict) else line)
    return out


def wait_for(pred, timeout: float, interval: float = 0.05):
    """Polls pred() until it is truthy or `timeout` s passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def recv_until_closed(sock) -> bytes:
    """Everything the peer sends until it closes (a reset ends it too)."""
    got = b""
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            got += piece
    except ConnectionResetError:
        pass
    return got
