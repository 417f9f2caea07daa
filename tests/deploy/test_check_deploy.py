"""Negative tests of scripts/check-deploy.py: each broken variant of a deployment file must make
the check that guards it fail (and the real files must pass, so the failures mean something).

  YG_BINARY=$PWD/build/yatagarasu pytest tests/deploy -q     (make deploy-check runs it)

Tests that need the built binary, helm or kustomize skip (with the reason) when it is missing,
except under `make deploy-check`, which builds them and sets YG_DEPLOY_TOOLS_REQUIRED=1: there a
missing tool fails the tests instead.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("check_deploy", REPO / "scripts/check-deploy.py")
cd = importlib.util.module_from_spec(_spec)
sys.modules["check_deploy"] = cd  # dataclasses look their module up there
_spec.loader.exec_module(cd)

DOCKERFILE = (REPO / "Dockerfile").read_text()
BINARY = Path(os.environ.get("YG_BINARY", REPO / "build/yatagarasu"))
HELM = cd.find_helm(None)
KUSTOMIZE = cd.find_kustomize(None)
REQUIRED = os.environ.get("YG_DEPLOY_TOOLS_REQUIRED") == "1"

needs_binary = pytest.mark.skipif(not os.access(BINARY, os.X_OK) and not REQUIRED,
                                  reason=f"no binary at {BINARY}")
needs_helm = pytest.mark.skipif(HELM is None and not REQUIRED,
                                reason="helm not built (scripts/install-helm.sh)")
needs_kustomize = pytest.mark.skipif(KUSTOMIZE is None and not REQUIRED,
                                     reason="kustomize not built (scripts/install-helm.sh)")


def joined(errors: list[str]) -> str:
    return "\n".join(errors)


def drop_lines(text: str, prefix: str, stage: int = -1) -> str:
    """The Dockerfile without the instructions starting with `prefix` in one stage (0 = first,
    -1 = last), continuation lines included."""
    lines = text.splitlines()
    froms = [i for i, ln in enumerate(lines) if ln.startswith("FROM ")]
    start = froms[stage]
    end = froms[stage + 1] if stage != -1 and stage + 1 < len(froms) else len(lines)
    out, skipping = [], False
    for i, ln in enumerate(lines):
        if start <= i < end and (ln.startswith(prefix) or skipping):
            skipping = ln.rstrip().endswith("\\")
            continue
        skipping = False
        out.append(ln)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- Dockerfile


def test_real_dockerfile_passes():
    assert cd.check_dockerfile(DOCKERFILE) == []
    required = cd.read_package_list(REPO / "scripts/build-packages.txt")
    assert cd.check_build_packages(DOCKERFILE, required) == []


def test_dockerfile_without_user_fails():
    broken = drop_lines(DOCKERFILE, "USER ")
    assert "USER" not in "".join(i.keyword for i in cd.parse_dockerfile(broken)[-1].instructions)
    assert "no USER" in joined(cd.check_dockerfile(broken))


@pytest.mark.parametrize("user", ["root", "0", "0:0", "yatagarasu"])
def test_dockerfile_root_or_named_user_fails(user):
    broken = DOCKERFILE.replace("USER 10001:10001", f"USER {user}")
    errors = joined(cd.check_dockerfile(broken))
    assert ("is root" in errors) or ("not numeric" in errors)


def test_single_stage_dockerfile_fails():
    single = "FROM debian:12-slim\nUSER 10001\nHEALTHCHECK CMD true\nSTOPSIGNAL SIGTERM\n" \
             "EXPOSE 8080\nCMD [\"x\"]\n"
    assert "not multi-stage" in joined(cd.check_dockerfile(single))


def test_dockerfile_without_healthcheck_or_stopsignal_fails():
    assert "no HEALTHCHECK" in joined(cd.check_dockerfile(drop_lines(DOCKERFILE, "HEALTHCHECK")))
    assert "no STOPSIGNAL" in joined(cd.check_dockerfile(drop_lines(DOCKERFILE, "STOPSIGNAL")))
    wrong = DOCKERFILE.replace("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL")
    assert "drains on SIGTERM" in joined(cd.check_dockerfile(wrong))


def test_runtime_on_another_base_fails():
    broken = DOCKERFILE.replace("FROM debian:12-slim AS runtime", "FROM ubuntu:24.04 AS runtime")
    assert "want debian:12-slim" in joined(cd.check_dockerfile(broken))


def test_build_stage_missing_a_package_fails():
    required = cd.read_package_list(REPO / "scripts/build-packages.txt")
    broken = DOCKERFILE.replace(" libhiredis-dev ", " ")
    errors = cd.check_build_packages(broken, required)
    assert errors == [
        "build stage does not install libhiredis-dev (scripts/build-packages.txt lists it)"
    ]


def test_apt_installs_parses_continuations_and_options():
    stage = cd.parse_dockerfile(DOCKERFILE)[-1]
    pkgs = cd.stage_packages(stage)
    assert {"ca-certificates", "libssl3", "libhiredis0.14"} <= pkgs
    assert not any(p.startswith("-") for p in pkgs)
    assert cd.apt_installs("apt-get update && apt-get install -y -q foo=1.2 bar; echo baz") == [
        "foo", "bar"]


# ----------------------------------------------------------------------------- libraries


def test_runtime_missing_library_package_fails():
    libs = {
        "/lib/x86_64-linux-gnu/libhiredis.so.0.14": "libhiredis0.14",
        "/lib/x86_64-linux-gnu/libssl.so.3": "libssl3",
        "/lib/x86_64-linux-gnu/libc.so.6": "libc6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6": "libstdc++6",
    }
    ok = cd.check_runtime_packages(libs, [], {"libhiredis0.14", "libssl3", "ca-certificates"})
    assert ok == []
    errors = joined(cd.check_runtime_packages(libs, [], {"libssl3", "ca-certificates"}))
    assert "libhiredis0.14, which the runtime stage does not install" in errors
    # libc6 / libstdc++6 are in debian:12-slim: never required in the apt-get line.
    assert "libc6" not in errors and "libstdc++6" not in errors


def test_library_not_found_or_unowned_fails():
    errors = joined(cd.check_runtime_packages(
        {"/opt/custom/libfoo.so.1": None}, ["libbar.so.2"], {"ca-certificates"}))
    assert "libbar.so.2 => not found" in errors
    assert "no Debian package ships it" in errors


def test_runtime_without_ca_certificates_fails():
    assert "ca-certificates" in joined(cd.check_runtime_packages({}, [], set()))


def test_removing_a_runtime_package_from_the_dockerfile_fails():
    broken = DOCKERFILE.replace(" libyaml-cpp0.7 ", " ")
    pkgs = cd.runtime_stage_packages(broken)
    libs = {"/lib/x86_64-linux-gnu/libyaml-cpp.so.0.7": "libyaml-cpp0.7"}
    assert "libyaml-cpp0.7" in joined(cd.check_runtime_packages(libs, [], pkgs))


@needs_binary
def test_ldd_of_the_real_binary_maps_to_packages():
    libs, missing = cd.ldd_libraries(BINARY)
    assert missing == []
    owners = {lib: cd.dpkg_owner(lib) for lib in libs}
    assert all(owners.values()), owners
    assert "libhiredis0.14" in owners.values()
    assert cd.check_runtime_packages(owners, missing, cd.runtime_stage_packages(DOCKERFILE)) == []


# ----------------------------------------------------------------------------- systemd


def test_unit_semantics():
    unit = (REPO / "deploy/yatagarasu.service").read_text()
    assert cd.check_unit_semantics(unit) == []
    short = unit.replace("TimeoutStopSec=45", "TimeoutStopSec=20s")
    assert "would SIGKILL a drain" in joined(cd.check_unit_semantics(short))
    assert "Type=notify" in joined(cd.check_unit_semantics(unit.replace("Type=notify", "Type=simple")))
    assert cd.parse_seconds("1min 30s") == 90


@needs_binary
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_verify_flags_a_bad_unit(tmp_path):
    unit = (REPO / "deploy/yatagarasu.service").read_text()
    bad = tmp_path / "yatagarasu.service"
    bad.write_text(unit.replace("Restart=on-failure", "Restart=on-failure\nRestrat=always"))
    assert "Restrat" in joined(cd.systemd_verify(bad, BINARY))
    good = tmp_path / "good" / "yatagarasu.service"
    good.parent.mkdir()
    good.write_text(unit)
    assert cd.systemd_verify(good, BINARY) == []


# ----------------------------------------------------------------------------- config


def test_config_substitution():
    text = 'server: {port: "${PORT:-8081}"}\nmetrics: {port: 9091}\nx: "${SECRET}"\ny: "$${LIT}"\n'
    required, optional = cd.config_vars(text)
    assert required == {"SECRET"} and optional == {"PORT"}
    cfg = cd.effective_config(text)
    assert cd.config_ports(cfg) == (8081, 9091)
    assert cfg["y"] == "${LIT}"


# ----------------------------------------------------------------------------- renderings


def kustomize(path: str) -> list[dict]:
    out = subprocess.run([KUSTOMIZE, "build", str(REPO / path)], capture_output=True,
                         text=True, check=True).stdout
    return cd.load_docs(out)


def deployment(docs):
    return next(d for d in docs if d["kind"] == "Deployment")


def container(docs):
    return deployment(docs)["spec"]["template"]["spec"]["containers"][0]


def configmap(docs):
    return next(d for d in docs if d["kind"] == "ConfigMap")


@pytest.fixture(scope="module")
def base_docs():
    if KUSTOMIZE is None and not REQUIRED:
        pytest.skip("kustomize not built (scripts/install-helm.sh)")
    return kustomize("deploy/kustomize/base")


def test_base_rendering_passes(base_docs):
    assert cd.check_rendered(base_docs, None, "base") == []


def test_grace_period_below_drain_fails(base_docs):
    docs = copy.deepcopy(base_docs)
    deployment(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    assert "would SIGKILL a drain in progress" in joined(cd.check_rendered(docs, None, "t"))
    # Also when only the config's drain grows past it.
    docs = copy.deepcopy(base_docs)
    cm = configmap(docs)
    cm["data"]["config.yaml"] = cm["data"]["config.yaml"].replace(
        "timeout_seconds: 30", "timeout_seconds: 40")
    assert "shutdown.timeout_seconds 40" in joined(cd.check_rendered(docs, None, "t"))


def test_probe_paths_and_ports(base_docs):
    docs = copy.deepcopy(base_docs)
    container(docs)["livenessProbe"]["httpGet"]["path"] = "/ready"
    container(docs)["readinessProbe"]["httpGet"]["path"] = "/health"
    errors = joined(cd.check_rendered(docs, None, "t"))
    assert "livenessProbe path '/ready', want /health" in errors
    assert "readinessProbe path '/health', want /ready" in errors
    docs = copy.deepcopy(base_docs)
    container(docs)["readinessProbe"]["httpGet"]["port"] = "http"
    assert "closes at SIGTERM" in joined(cd.check_rendered(docs, None, "t"))
    docs = copy.deepcopy(base_docs)
    container(docs)["livenessProbe"]["httpGet"]["port"] = "nope"
    assert "is no containerPort" in joined(cd.check_rendered(docs, None, "t"))


def test_container_port_mismatch_fails(base_docs):
    docs = copy.deepcopy(base_docs)
    cm = configmap(docs)
    cm["data"]["config.yaml"] = cm["data"]["config.yaml"].replace("port: 8080", "port: 8088")
    assert "server.port 8088 of the config is not a containerPort" in joined(
        cd.check_rendered(docs, None, "t"))


def test_missing_secret_key_fails(base_docs):
    docs = copy.deepcopy(base_docs)
    cm = configmap(docs)
    cm["data"]["config.yaml"] = cm["data"]["config.yaml"].replace(
        'secret_key: "${AWS_SECRET_ACCESS_KEY}"', 'secret_key: "${S3_SECRET}"')
    assert "needs ${S3_SECRET}" in joined(cd.check_rendered(docs, None, "t"))


def test_security_context_fails(base_docs):
    docs = copy.deepcopy(base_docs)
    del container(docs)["securityContext"]["readOnlyRootFilesystem"]
    deployment(docs)["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    errors = joined(cd.check_rendered(docs, None, "t"))
    assert "readOnlyRootFilesystem is not set" in errors and "runAsUser is 0" in errors


def test_pdb_without_selector_fails(base_docs):
    docs = copy.deepcopy(base_docs)
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    del pdb["spec"]["selector"]
    assert "PodDisruptionBudget yatagarasu has no selector" in joined(
        cd.check_rendered(docs, None, "t"))


@needs_binary
def test_invalid_config_fails_yatagarasu_test(base_docs):
    assert cd.check_rendered(base_docs, BINARY, "base") == []
    docs = copy.deepcopy(base_docs)
    cm = configmap(docs)
    cm["data"]["config.yaml"] = cm["data"]["config.yaml"].replace("region:", "regoin:")
    errors = joined(cd.check_rendered(docs, BINARY, "t"))
    assert "yatagarasu --test refused the config" in errors and "regoin" in errors


def test_schema_validation_is_strict(base_docs):
    errors, skipped = cd.validate_objects(base_docs, cd.KUBE_VERSION)
    assert errors == [] and skipped == []
    docs = copy.deepcopy(base_docs)
    spec = deployment(docs)["spec"]["template"]["spec"]
    spec["terminationGracePeriodSecond"] = spec.pop("terminationGracePeriodSeconds")
    errors, _ = cd.validate_objects(docs, cd.KUBE_VERSION)
    assert "terminationGracePeriodSecond" in joined(errors)


def test_servicemonitor_schema():
    sm = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
          "metadata": {"name": "x"},
          "spec": {"selector": {"matchLabels": {"a": "b"}},
                   "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}]}}
    assert cd.validate_objects([sm], cd.KUBE_VERSION) == ([], [])
    bad = copy.deepcopy(sm)
    bad["spec"]["endpoints"][0]["interval"] = "30 seconds"
    bad["spec"]["endpoint"] = []
    errors = joined(cd.validate_objects([bad], cd.KUBE_VERSION)[0])
    assert "30 seconds" in errors and "endpoint" in errors


def test_unknown_crd_is_listed_as_skipped():
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    errors, skipped = cd.validate_objects([obj], cd.KUBE_VERSION)
    assert errors == [] and "Widget" in joined(skipped)


@needs_helm
def test_helm_values_with_short_grace_period_fail(tmp_path):
    chart = REPO / "deploy/helm/yatagarasu"
    values = tmp_path / "short-grace.yaml"
    values.write_text(yaml.safe_dump({"terminationGracePeriodSeconds": 30}))
    docs, err = cd.helm_template(HELM, chart, values, cd.KUBE_VERSION)
    assert docs is None
    assert "must be greater than config.shutdown.timeout_seconds (30) + preStopSleepSeconds" in err
    # The same values past the chart's own guard are caught by the rendered-object check.
    docs, err = cd.helm_template(HELM, chart, None, cd.KUBE_VERSION)
    assert docs is not None, err
    assert cd.check_rendered(docs, None, "helm") == []
    deployment(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    assert "would SIGKILL" in joined(cd.check_rendered(docs, None, "helm"))


@needs_helm
def test_helm_values_moving_the_port_keep_probes_and_ports_consistent(tmp_path):
    chart = REPO / "deploy/helm/yatagarasu"
    values = tmp_path / "ports.yaml"
    values.write_text(yaml.safe_dump({"config": {
        "server": {"port": 9000}, "metrics": None, "shutdown": {"timeout_seconds": 10},
        "buckets": [{"name": "b", "path_prefix": "/b", "s3": {
            "bucket": "b", "access_key": "${AWS_ACCESS_KEY_ID}",
            "secret_key": "${AWS_SECRET_ACCESS_KEY}"}}]}}))
    docs, err = cd.helm_template(HELM, chart, values, cd.KUBE_VERSION)
    assert docs is not None, err
    c = container(docs)
    assert [p["containerPort"] for p in c["ports"]] == [9000]
    assert c["readinessProbe"]["httpGet"]["port"] == "http"
    assert cd.check_rendered(docs, None, "helm") == []


# ----------------------------------------------------------------------------- .dockerignore

# What moby/patternmatcher v0.6.0 (Docker's matcher) answers for the repository's .dockerignore,
# recorded with a small Go program (MatchesOrParentMatches).
MOBY_ANSWERS = {
    "CMakeLists.txt": False, "cmake/deps.cmake": False, "src/app/main.cc": False,
    "deploy/docker/config.yaml": False, "deploy/docker/healthcheck.sh": False,
    "deploy/yatagarasu.service": True, "build/yatagarasu": True, "tests/unit/x.cc": True,
    "Dockerfile": True, ".git/config": True, "docs/x.md": True,
}


def test_dockerignore_matches_docker():
    text = (REPO / ".dockerignore").read_text()
    assert {p: cd.dockerignore_excludes(text, p) for p in MOBY_ANSWERS} == MOBY_ANSWERS


def test_copy_of_an_ignored_or_missing_path_fails():
    ignore = (REPO / ".dockerignore").read_text()
    assert cd.check_copy_sources(DOCKERFILE, ignore) == []
    errors = joined(cd.check_copy_sources(DOCKERFILE, ignore.replace("!deploy/docker/\n", "")))
    assert "deploy/docker/config.yaml is excluded by .dockerignore" in errors
    broken = DOCKERFILE.replace("COPY src/ src/", "COPY source/ src/")
    assert "COPY source source/ does not exist" in joined(cd.check_copy_sources(broken, ignore))
    assert cd.dockerignore_excludes("**/*.o\n", "src/a/b.o")
    assert not cd.dockerignore_excludes("*.o\n", "src/b.o")
