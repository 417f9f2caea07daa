"""scripts/check-config-reference.py fails when docs/configuration.md and the config schema
differ, in either direction, and --write regenerates what it owns (key, type, default) while
keeping the hand-written meanings.

Most cases run on a small schema (--schema FILE) and doc in a temporary directory; the last
ones edit a copy of the real doc and check it against the real binary (`--config-schema`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-config-reference.py"
BINARY = Path(os.environ.get("YG_BINARY", REPO / "build" / "yatagarasu"))

SCHEMA = [
    {"path": "server", "type": "mapping", "required": False, "default": None},
    {"path": "server.port", "type": "uint", "required": False, "default": 8080, "min": 1, "max": 65535},
    {"path": "server.tls", "type": "mapping", "required": False, "default": None},
    {"path": "server.tls.cert_path", "type": "string", "required": True, "default": ""},
    {"path": "jwt", "type": "mapping", "required": False, "default": None},
    {"path": "jwt.secret", "type": "secret", "required": False, "default": None},
    {"path": "jwt.mode", "type": "enum", "required": False, "default": "a", "values": ["a", "b"]},
    {"path": "buckets", "type": "list of mappings", "required": True, "default": None},
    {"path": "buckets[].auth", "type": "mapping", "required": False, "default": None},
    {"path": "buckets[].auth.jwt", "type": "mapping", "required": False, "default": None},
    {"path": "buckets[].auth.jwt.secret", "type": "secret", "required": False, "default": None},
    {"path": "buckets[].auth.jwt.mode", "type": "enum", "required": False, "default": "a", "values": ["a", "b"]},
    {"path": "buckets[].layers", "type": "list", "required": False, "default": ["memory"]},
    {"path": "buckets[].warming", "type": "refused", "required": False, "default": None, "reason": "no"},
]

GOOD_DOC = """# Configuration

Prose stays as it is.

<!-- config-reference: server -->
| key | type | default | meaning |
|---|---|---|---|
| `server.port` | uint 1..65535 | `8080` | Listen port. |
| `server.tls.cert_path` | string, required | – | PEM file. |
<!-- /config-reference -->

<!-- config-reference-alias: buckets[].auth.jwt = jwt -->
<!-- config-reference: jwt buckets -->
| key | type | default | meaning |
|---|---|---|---|
| `jwt.secret` | secret | – | HMAC key. |
| `jwt.mode` | `a` \\| `b` | `a` | A or b \\| nothing else. |
| `buckets[].layers` | list | `[memory]` | Layers. |
| `buckets[].warming` | refused | – | Not supported. |
<!-- /config-reference -->

More prose.
"""


def run(tmp_path: Path, doc: str, *extra: str, schema=SCHEMA):
    s = tmp_path / "schema.jsonl"
    s.write_text("".join(json.dumps(k) + "\n" for k in schema))
    d = tmp_path / "configuration.md"
    d.write_text(doc)
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--schema", str(s), "--doc", str(d), "--no-examples", *extra],
        capture_output=True,
        text=True,
    )
    return r, d


def test_matching_doc_passes(tmp_path):
    r, _ = run(tmp_path, GOOD_DOC)
    assert r.returncode == 0, r.stderr
    assert "config reference OK" in r.stdout


def test_doc_missing_a_key_fails(tmp_path):
    doc = GOOD_DOC.replace("| `server.tls.cert_path` | string, required | – | PEM file. |\n", "")
    r, _ = run(tmp_path, doc)
    assert r.returncode == 1
    assert "`server.tls.cert_path`: not documented" in r.stderr


def test_doc_naming_a_key_the_schema_lacks_fails(tmp_path):
    doc = GOOD_DOC.replace("More prose.", "").replace(
        "| `server.port` |", "| `server.prot` | uint | – | Typo. |\n| `server.port` |"
    )
    r, _ = run(tmp_path, doc)
    assert r.returncode == 1
    assert "`server.prot`: documented, but the schema has no such key" in r.stderr


def test_key_outside_every_table_fails(tmp_path):
    schema = SCHEMA + [{"path": "metrics.port", "type": "uint", "required": False, "default": 0}]
    r, _ = run(tmp_path, GOOD_DOC, schema=schema)
    assert r.returncode == 1
    assert "`metrics.port`: not documented (and no config-reference table covers it)" in r.stderr


def test_stale_default_or_type_fails(tmp_path):
    doc = GOOD_DOC.replace("| `8080` | Listen port.", "| `9090` | Listen port.").replace(
        "| `jwt.secret` | secret |", "| `jwt.secret` | string |"
    )
    r, _ = run(tmp_path, doc)
    assert r.returncode == 1
    assert "`server.port`: default is '`8080`', the doc says '`9090`'" in r.stderr
    assert "`jwt.secret`: type is 'secret', the doc says 'string'" in r.stderr


def test_row_without_meaning_fails(tmp_path):
    doc = GOOD_DOC.replace("| PEM file. |", "|  |")
    r, _ = run(tmp_path, doc)
    assert r.returncode == 1
    assert "`server.tls.cert_path`: no meaning written" in r.stderr


def test_alias_needs_a_documented_target_of_the_same_type(tmp_path):
    # The alias covers buckets[].auth.jwt.*; without the target's row the key is undocumented.
    doc = GOOD_DOC.replace("| `jwt.secret` | secret | – | HMAC key. |\n", "")
    r, _ = run(tmp_path, doc)
    assert r.returncode == 1
    assert "`buckets[].auth.jwt.secret`: alias target `jwt.secret` is not documented" in r.stderr
    schema = [dict(k) for k in SCHEMA]
    next(k for k in schema if k["path"] == "buckets[].auth.jwt.mode")["default"] = "b"
    r, _ = run(tmp_path, GOOD_DOC, schema=schema)
    assert r.returncode == 1
    assert "`buckets[].auth.jwt.mode`: differs from its alias target `jwt.mode`" in r.stderr
    doc = GOOD_DOC.replace("buckets[].auth.jwt = jwt", "buckets[].auth.jwt = jwt.nothing")
    r, _ = run(tmp_path, doc)
    assert r.returncode == 1
    assert "`jwt.nothing` names no key of the schema" in r.stderr


def test_write_regenerates_key_type_default_and_keeps_meanings(tmp_path):
    schema = [dict(k) for k in SCHEMA]
    next(k for k in schema if k["path"] == "server.port")["default"] = 9000
    schema.insert(2, {"path": "server.threads", "type": "uint", "required": False, "default": 0})
    doc = GOOD_DOC.replace("| `server.port` | uint 1..65535 | `8080` |", "| `server.port` | x | y |")
    r, d = run(tmp_path, doc, "--write", schema=schema)
    text = d.read_text()
    assert "| `server.port` | uint 1..65535 | `9000` | Listen port. |" in text
    assert "| `jwt.mode` | `a` \\| `b` | `a` | A or b \\| nothing else. |" in text
    assert "Prose stays as it is." in text and "More prose." in text
    # The new key gets a row, and the check fails until someone writes what it means.
    assert "| `server.threads` | uint | `0` |  |" in text
    assert r.returncode == 1
    assert "`server.threads`: no meaning written" in r.stderr
    assert "server.port" not in r.stderr


def real_schema():
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is missing: build it or set YG_BINARY")
    r = subprocess.run([str(BINARY), "--config-schema"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()]


def test_real_doc_matches_the_real_schema(tmp_path):
    r, _ = run(tmp_path, (REPO / "docs" / "configuration.md").read_text(), schema=real_schema())
    assert r.returncode == 0, r.stderr


def test_real_doc_without_a_deep_key_fails(tmp_path):
    schema = real_schema()
    lines = (REPO / "docs" / "configuration.md").read_text().split("\n")
    kept = [l for l in lines if not l.startswith("| `buckets[].authorization.cache.max_entries` |")]
    assert len(kept) == len(lines) - 1
    r, _ = run(tmp_path, "\n".join(kept), schema=schema)
    assert r.returncode == 1
    # The flat key, and the nested spellings that are documented through it.
    assert "`buckets[].authorization.cache.max_entries`: not documented" in r.stderr
    assert "`buckets[].auth.openfga.cache.max_entries`: alias target" in r.stderr


def test_broken_example_config_fails(tmp_path):
    real_schema()  # skips without a binary
    cfg = tmp_path / "config"
    (cfg / "examples" / "sub").mkdir(parents=True)
    (cfg / "ok.yaml").write_text(
        "buckets:\n  - name: a\n    path_prefix: /a\n"
        "    s3: {bucket: b, access_key: '${K}', secret_key: s, endpoint: '${S3_ENDPOINT}'}\n"
    )
    (cfg / "examples" / "sub" / "bad.yaml").write_text(
        "buckets:\n  - name: a\n    path_prefix: /a\n"
        "    s3: {bucket: b, access_key: k, secret_key: s, regoin: x}\n"
    )
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--binary", str(BINARY), "--config-dir", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "config/examples/sub/bad.yaml: fails --test" in r.stderr
    assert "regoin: unknown key" in r.stderr
    assert "ok.yaml" not in r.stderr  # ${K} and ${S3_ENDPOINT} got dummy values
