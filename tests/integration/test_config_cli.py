"""The command line and config loading (CONF-1..4): --test on good and bad files (errors name
file:line and the key path, all at once), ${VAR} substitution, --version, --help."""

from __future__ import annotations

import re


import catalog
from httpc import request
from proxy import run_cli

GOOD = """\
server:
  address: "127.0.0.1"
  port: {port}
  threads: 2
  request_timeout: 30
  security_limits:
    max_body_size: 10485760
    max_header_size: 65536
    max_uri_length: 8192
logging:
  level: info
  format: json
buckets:
  - name: "public"
    path_prefix: "/public"
    s3:
      bucket: "{bucket}"
      region: "us-east-1"
      endpoint: "{endpoint}"
      access_key: "{access_key}"
      secret_key: "{secret_key}"
      timeout: 5
"""


def good_yaml(moto, port=18080):
    return GOOD.format(port=port, bucket=catalog.BUCKET_PUBLIC, endpoint=moto.url,
                       access_key=moto.access_key, secret_key=moto.secret_key)


def write(tmp_path, text, name="config.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def names_location(stderr: str, path, line: int) -> bool:
    # "file:line" with the path as given or its basename
    return re.search(re.escape(path.name) + r":" + str(line) + r"\b", stderr) is not None


def test_test_flag_accepts_a_good_config(yg_binary, tmp_path, moto_auth):
    cfg = write(tmp_path, good_yaml(moto_auth))
    r = run_cli(yg_binary, "--test", "--config", str(cfg))
    assert r.returncode == 0, r.stderr.decode()
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert moto_auth.secret_key not in out, "--test printed the S3 secret key (CONF-4)"


def test_test_flag_accepts_the_rust_address_form(yg_binary, tmp_path, moto_auth):
    text = good_yaml(moto_auth).replace('  address: "127.0.0.1"\n  port: 18080\n',
                                        '  address: "127.0.0.1:18080"\n')
    assert "127.0.0.1:18080" in text
    r = run_cli(yg_binary, "--test", "--config", str(write(tmp_path, text)))
    assert r.returncode == 0, r.stderr.decode()


def test_unknown_key_names_file_line_and_key(yg_binary, tmp_path, moto_auth):
    text = good_yaml(moto_auth).replace("  threads: 2\n", "  threads: 2\n  thraeds: 4\n")
    cfg = write(tmp_path, text)
    r = run_cli(yg_binary, "--test", "--config", str(cfg))
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode != 0
    assert names_location(err, cfg, line_of(text, "thraeds")), err
    assert "server.thraeds" in err, err


def test_unknown_key_in_a_bucket_is_an_error(yg_binary, tmp_path, moto_auth):
    """A typo must never silently change behaviour (CONF-2), e.g. `auht` for `auth`."""
    text = good_yaml(moto_auth) + "    auht:\n      enabled: true\n"
    cfg = write(tmp_path, text)
    r = run_cli(yg_binary, "--test", "--config", str(cfg))
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode != 0
    assert "auht" in err and names_location(err, cfg, line_of(text, "auht")), err


def test_wrong_type_names_the_key(yg_binary, tmp_path, moto_auth):
    text = good_yaml(moto_auth).replace("      timeout: 5\n", "      timeout: soon\n")
    cfg = write(tmp_path, text)
    r = run_cli(yg_binary, "--test", "--config", str(cfg))
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode != 0
    assert "timeout" in err and names_location(err, cfg, line_of(text, "timeout: soon")), err


def test_all_errors_are_reported_at_once(yg_binary, tmp_path, moto_auth):
    text = (good_yaml(moto_auth)
            .replace("  threads: 2\n", "  threads: 2\n  thraeds: 4\n")
            .replace("  level: info\n", "  level: info\n  colour: always\n")
            .replace("      timeout: 5\n", "      timeout: soon\n"))
    cfg = write(tmp_path, text)
    r = run_cli(yg_binary, "--test", "--config", str(cfg))
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode != 0
    for needle in ("thraeds", "colour", "timeout: soon"):
        assert names_location(err, cfg, line_of(text, needle)), f"{needle} not reported:\n{err}"


def test_unset_variable_without_default_is_named(yg_binary, tmp_path, moto_auth):
    text = good_yaml(moto_auth).replace(moto_auth.secret_key, "${YG_TEST_UNSET_SECRET_VAR}")
    cfg = write(tmp_path, text)
    r = run_cli(yg_binary, "--test", "--config", str(cfg),
                unset=("YG_TEST_UNSET_SECRET_VAR",))
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode != 0
    assert "YG_TEST_UNSET_SECRET_VAR" in err, err


def test_variables_and_defaults_are_substituted_and_served(yg_binary, proxy_factory, moto_auth):
    """${VAR} and ${VAR:-default} (CONF-3); a ${VAR} inside a comment is not expanded."""
    text = GOOD.format(port="{PORT}", bucket="${YG_T_BUCKET:-" + catalog.BUCKET_PUBLIC + "}",
                       endpoint="${YG_T_ENDPOINT}", access_key="${YG_T_ACCESS}",
                       secret_key="${YG_T_SECRET}")
    text = "# comment mentioning ${YG_T_NOT_SET_ANYWHERE} must not matter\n" + text
    p = proxy_factory(raw_yaml=text, env={"YG_T_ENDPOINT": moto_auth.url,
                                          "YG_T_ACCESS": moto_auth.access_key,
                                          "YG_T_SECRET": moto_auth.secret_key})
    r = request(p.host, p.port, "GET", "/public/hello.txt")
    assert r.status == 200 and r.body == catalog.HELLO.body


def test_missing_config_file_is_an_error(yg_binary, tmp_path):
    missing = tmp_path / "nope.yaml"
    r = run_cli(yg_binary, "--test", "--config", str(missing))
    assert r.returncode != 0
    assert "nope.yaml" in r.stderr.decode("utf-8", "replace")


def test_invalid_yaml_is_an_error_with_a_line(yg_binary, tmp_path, moto_auth):
    text = good_yaml(moto_auth).replace("  threads: 2\n", "  threads: [2\n")
    cfg = write(tmp_path, text)
    r = run_cli(yg_binary, "--test", "--config", str(cfg))
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode != 0
    assert cfg.name in err, err


def test_running_with_a_bad_config_fails_to_start(yg_binary, tmp_path, moto_auth):
    text = good_yaml(moto_auth).replace("  threads: 2\n", "  threads: 2\n  thraeds: 4\n")
    r = run_cli(yg_binary, "--config", str(write(tmp_path, text)), timeout=20)
    assert r.returncode != 0
    assert "thraeds" in r.stderr.decode("utf-8", "replace")


def test_version(yg_binary):
    r = run_cli(yg_binary, "--version")
    assert r.returncode == 0
    assert re.search(r"\d+\.\d+\.\d+", r.stdout.decode()), r.stdout


def test_help(yg_binary):
    r = run_cli(yg_binary, "--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "--config" in out and "--test" in out


def test_unknown_flag_fails(yg_binary):
    r = run_cli(yg_binary, "--no-such-flag")
    assert r.returncode != 0
    assert r.stderr.strip(), "an unknown flag should say what is wrong"


def test_config_schema_lists_every_key_as_json_lines(yg_binary):
    import json

    r = run_cli(yg_binary, "--config-schema")
    assert r.returncode == 0, r.stderr
    keys = {k["path"]: k for k in map(json.loads, r.stdout.decode().splitlines())}
    assert keys["server.port"] == {"path": "server.port", "type": "uint", "required": False,
                                   "default": 8080, "min": 1, "max": 65535}
    assert keys["buckets[].s3.replicas[].name"]["required"] is True
    assert keys["cache.warming"]["type"] == "refused"
    assert len(keys) > 300
