#!/usr/bin/env python3
"""Checks the deployment files without a Docker engine or a cluster (`make deploy-check`).

  scripts/check-deploy.py [--binary build/yatagarasu] [--helm PATH] [--kube-version 1.30.0]

What it checks (docs/DEPLOYMENT.md#what-was-verified):

- Dockerfile: multi-stage; the runtime stage is debian:12-slim, copies the binary from an
  earlier stage, runs as a numeric non-root USER, has HEALTHCHECK, STOPSIGNAL SIGTERM, EXPOSE,
  ENTRYPOINT/CMD; the build stage installs every package of scripts/build-packages.txt; the
  runtime stage installs the Debian package of every shared library `ldd BINARY` names
  (dpkg -S), apart from those debian:12-slim already has; the image's default config passes
  `yatagarasu --test` and its ports are EXPOSEd.
- deploy/yatagarasu.service: `systemd-analyze verify` (when available; any warning about the
  unit fails) and TimeoutStopSec above the default drain.
- Helm chart: `helm lint --strict`, `helm template` with the default values and every
  ci/*.yaml values file; kustomize: `kustomize build` of the base and every overlay.
  Every rendered object is validated with kubernetes_validate (strict, --kube-version);
  ServiceMonitor against a small schema written here. Then per rendering: the ConfigMap's
  config.yaml passes `yatagarasu --test` (${VAR}s without default set to dummy values) and
  every such VAR is provided by the pod's Secret/env; probes are /health and /ready on the
  metrics port when metrics.port is set; the container ports match server.port and
  metrics.port; terminationGracePeriodSeconds > shutdown.timeout_seconds + the preStop sleep;
  the pod runs non-root with a read-only root filesystem; Service, HPA, PDB and
  ServiceMonitor point at what exists.

Exit status 0 when everything passed, 1 otherwise. The functions are also used by
tests/deploy/test_check_deploy.py, which feeds them broken inputs.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
KUBE_VERSION = "1.30.0"
HELM_VERSION = "v3.22.0"
# debian:12-slim already has these (apt itself depends on libc6, libgcc-s1 and libstdc++6).
SLIM_BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
# Not a shared library, but the runtime needs it: https:// upstreams (S3, JWKS, OPA/OpenFGA,
# rediss://) verify against the system CA store.
RUNTIME_EXTRA_PACKAGES = {"ca-certificates"}
RUNTIME_BASE_IMAGE = "debian:12-slim"
# Kinds kubernetes_validate has no schema for, and what is done instead.
CRD_SCHEMAS: dict[str, dict] = {}  # filled below (ServiceMonitor)
DUMMY_SECRET = "check-deploy-dummy-value-0123456789abcdefghijklmnop"
DEFAULT_DRAIN_SECONDS = 30


class Report:
    """Collects results; prints one line each."""

    def __init__(self, quiet: bool = False):
        self.failures: list[str] = []
        self.quiet = quiet

    def result(self, what: str, errors: list[str]) -> None:
        if errors:
            for e in errors:
                self.failures.append(f"{what}: {e}")
                print(f"FAIL {what}: {e}", flush=True)
        elif not self.quiet:
            print(f"ok   {what}", flush=True)

    def skip(self, what: str, reason: str) -> None:
        print(f"skip {what}: {reason}", flush=True)


# ----------------------------------------------------------------------------- Dockerfile


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Splits a Dockerfile into stages of instructions (continuations joined, comments and
    blank lines dropped, as Docker's parser does; heredocs are not supported)."""
    stages: list[Stage] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        raw = lines[i]
        i += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [raw]
        while parts[-1].rstrip().endswith("\\") and i < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            nxt = lines[i]
            i += 1
            if nxt.lstrip().startswith("#"):  # comment lines inside a continuation vanish
                parts.append("\\")
                continue
            parts.append(nxt)
        joined = " ".join(p.strip() for p in parts if p.strip() not in ("", "\\"))
        keyword, _, args = joined.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = None
            if len(words) >= 3 and words[1].lower() == "as":
                name = words[2]
            stages.append(Stage(base=words[0] if words else "", name=name, line=start + 1))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args, start + 1))
    return stages


def apt_installs(run_args: str) -> list[str]:
    """Package names of every `apt-get install` / `apt install` in one RUN command."""
    lex = shlex.shlex(run_args, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    tokens = list(lex)
    packages: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in ("apt-get", "apt") and "install" in tokens[i + 1 : i + 8]:
            j = tokens.index("install", i) + 1
            while j < len(tokens) and tokens[j] not in ("&&", ";", "||", "|", "&"):
                t = tokens[j]
                if not t.startswith("-"):
                    packages.append(t.split("=")[0])  # pkg=version
                j += 1
            i = j
        else:
            i += 1
    return packages


def stage_packages(stage: Stage) -> set[str]:
    pkgs: set[str] = set()
    for ins in stage.all("RUN"):
        pkgs.update(apt_installs(ins.args))
    return pkgs


def check_dockerfile(text: str) -> list[str]:
    """Structure of the image: stages, user, healthcheck, stop signal, ports, entrypoint."""
    errors: list[str] = []
    stages = parse_dockerfile(text)
    if len(stages) < 2:
        return [f"not multi-stage: {len(stages)} FROM (want a build stage and a runtime stage)"]
    final = stages[-1]
    if final.base != RUNTIME_BASE_IMAGE:
        errors.append(
            f"runtime stage (line {final.line}) is FROM {final.base!r}, want {RUNTIME_BASE_IMAGE} "
            "(the library check assumes what that image contains)"
        )
    earlier = {s.name for s in stages[:-1] if s.name} | {str(k) for k in range(len(stages) - 1)}
    copies = [i for i in final.all("COPY") if re.search(r"--from=(\S+)", i.args)]
    if not any(re.search(r"--from=(\S+)", i.args).group(1) in earlier for i in copies):
        errors.append("runtime stage copies nothing from an earlier stage (COPY --from=<build>)")
    users = final.all("USER")
    if not users:
        errors.append("runtime stage has no USER: the container would run as root")
    else:
        user = users[-1].args.split(":")[0].strip()
        if user in ("root", "0"):
            errors.append(f"line {users[-1].line}: USER {users[-1].args} is root")
        elif not user.isdigit():
            errors.append(
                f"line {users[-1].line}: USER {user!r} is not numeric: Kubernetes' runAsNonRoot "
                "cannot verify a user name and refuses to start the pod"
            )
    hcs = final.all("HEALTHCHECK")
    if not hcs:
        errors.append("runtime stage has no HEALTHCHECK")
    elif hcs[-1].args.strip().upper() == "NONE":
        errors.append(f"line {hcs[-1].line}: HEALTHCHECK NONE")
    sigs = final.all("STOPSIGNAL")
    if not sigs:
        errors.append("runtime stage has no STOPSIGNAL (SIGTERM drains)")
    elif sigs[-1].args.strip().upper() not in ("SIGTERM", "TERM", "15"):
        errors.append(
            f"line {sigs[-1].line}: STOPSIGNAL {sigs[-1].args}: the proxy drains on SIGTERM"
        )
    if not final.all("EXPOSE"):
        errors.append("runtime stage has no EXPOSE")
    if not final.all("ENTRYPOINT") and not final.all("CMD"):
        errors.append("runtime stage has neither ENTRYPOINT nor CMD")
    return errors


def exposed_ports(text: str) -> set[int]:
    ports: set[int] = set()
    for ins in parse_dockerfile(text)[-1].all("EXPOSE"):
        for w in ins.args.split():
            m = re.match(r"(\d+)", w)
            if m:
                ports.add(int(m.group(1)))
    return ports


def _ignore_regex(pattern: str) -> re.Pattern:
    """One .dockerignore pattern as a regex (Go filepath.Match plus `**`, as moby's
    patternmatcher): `*` and `?` stay inside one path segment."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out += "/?"
                i += 1
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(ignore_text: str, path: str) -> bool:
    """Whether the build context leaves `path` out: the last pattern matching the path or one
    of its parents decides (`!` re-includes), as Docker's .dockerignore does."""
    rules = []
    for line in ignore_text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((neg, _ignore_regex(pat)))
    parts = os.path.normpath(path).split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for neg, rx in rules:
        if any(rx.match(c) for c in candidates):
            excluded = not neg
    return excluded


def check_copy_sources(dockerfile: str, ignore_text: str) -> list[str]:
    """Every COPY/ADD source taken from the build context exists and is not excluded by
    .dockerignore (the build would fail with "not found")."""
    errors = []
    for stage in parse_dockerfile(dockerfile):
        for ins in stage.all("COPY") + stage.all("ADD"):
            words = [w for w in shlex.split(ins.args) if not w.startswith("--")]
            if re.search(r"--from=", ins.args) or len(words) < 2:
                continue
            for src in words[:-1]:
                rel = src.rstrip("/") or "."
                if not (REPO / rel).exists():
                    errors.append(f"line {ins.line}: COPY source {src} does not exist")
                elif dockerignore_excludes(ignore_text, rel):
                    errors.append(f"line {ins.line}: COPY source {src} is excluded by .dockerignore")
    return errors


def read_package_list(path: Path) -> list[str]:
    """One package a line, `#` comments (scripts/build-packages.txt)."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def check_build_packages(text: str, required: list[str]) -> list[str]:
    stages = parse_dockerfile(text)
    if len(stages) < 2:
        return ["no build stage"]
    have: set[str] = set()
    for s in stages[:-1]:
        have |= stage_packages(s)
    missing = [p for p in required if p not in have]
    return [
        f"build stage does not install {p} (scripts/build-packages.txt lists it)" for p in missing
    ]


def ldd_libraries(binary: Path) -> tuple[list[str], list[str]]:
    """(resolved library paths, sonames ldd could not find)."""
    out = subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    libs, missing = [], []
    for line in out.splitlines():
        line = line.strip()
        if "=> not found" in line:
            missing.append(line.split()[0])
        elif "=>" in line:
            target = line.split("=>", 1)[1].split("(")[0].strip()
            if target:
                libs.append(target)
        elif line.startswith("/"):
            libs.append(line.split()[0])  # the dynamic loader
    return libs, missing


def dpkg_owner(path: str) -> str | None:
    """The Debian package that ships `path` (tries the usr-merged spellings too)."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.append(p[4:])
        else:
            candidates.append("/usr" + p)
    for c in dict.fromkeys(candidates):
        r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            first = r.stdout.splitlines()[0]
            if first.startswith("diversion by"):
                continue
            owners = first.rsplit(": ", 1)[0]
            return owners.split(",")[0].strip().split(":")[0]
    return None


def check_runtime_packages(
    lib_packages: dict[str, str | None], not_found: list[str], runtime_pkgs: set[str]
) -> list[str]:
    """Every library's package must be in the runtime stage's apt-get install, or in slim."""
    errors = [f"ldd: {s} => not found (the binary itself cannot start)" for s in not_found]
    for lib, pkg in sorted(lib_packages.items()):
        if pkg is None:
            errors.append(f"{lib}: no Debian package ships it (dpkg -S): cannot install it")
        elif pkg not in SLIM_BASE_PACKAGES and pkg not in runtime_pkgs:
            errors.append(
                f"{lib} comes from {pkg}, which the runtime stage does not install "
                f"(and {RUNTIME_BASE_IMAGE} does not have)"
            )
    for pkg in sorted(RUNTIME_EXTRA_PACKAGES - runtime_pkgs):
        errors.append(f"runtime stage does not install {pkg}")
    return errors


def runtime_stage_packages(text: str) -> set[str]:
    return stage_packages(parse_dockerfile(text)[-1])


# ----------------------------------------------------------------------------- systemd


def parse_seconds(value: str) -> float | None:
    """systemd time spans: 45, 45s, 1min 30s, 2m, 500ms."""
    units = {"": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
             "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
             "ms": 0.001, "msec": 0.001}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value.strip().lower())
    if not parts or value.strip().lower() == "infinity":
        return None
    for num, unit in parts:
        if unit not in units:
            return None
        total += float(num) * units[unit]
    return total


def check_unit_semantics(unit_text: str, drain_seconds: int = DEFAULT_DRAIN_SECONDS) -> list[str]:
    errors = []
    kv = {}
    for line in unit_text.splitlines():
        line = line.strip()
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            kv[k.strip()] = v.strip()
    stop = kv.get("TimeoutStopSec")
    secs = parse_seconds(stop) if stop else 90  # systemd's DefaultTimeoutStopSec
    if secs is not None and secs <= drain_seconds:
        errors.append(
            f"TimeoutStopSec={stop} is not above the drain (shutdown.timeout_seconds "
            f"{drain_seconds}): systemd would SIGKILL a drain in progress"
        )
    if kv.get("KillSignal", "SIGTERM") not in ("SIGTERM", "TERM", "15"):
        errors.append(f"KillSignal={kv['KillSignal']}: the proxy drains on SIGTERM")
    if kv.get("Type") != "notify":
        errors.append(f"Type={kv.get('Type')}: the proxy speaks sd_notify; use Type=notify")
    return errors


def systemd_verify(unit: Path, binary: Path) -> list[str]:
    """`systemd-analyze verify` on a copy whose ExecStart paths name the built binary (verify
    checks that the command exists). Warnings about the unit count as failures."""
    with tempfile.TemporaryDirectory() as d:
        copy = Path(d) / unit.name
        copy.write_text(unit.read_text().replace("/usr/local/bin/yatagarasu", str(binary)))
        r = subprocess.run(
            ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, cwd=d
        )
        lines = [
            ln for ln in (r.stdout + r.stderr).splitlines()
            if unit.name in ln or str(copy) in ln
        ]
        errors = [ln.replace(str(copy), str(unit)) for ln in lines]
        if r.returncode != 0 and not errors:
            errors.append(f"systemd-analyze verify exited {r.returncode}: {r.stderr.strip()}")
        return errors


# ----------------------------------------------------------------------------- config


VAR_RE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def config_vars(text: str) -> tuple[set[str], set[str]]:
    """(${VAR}s without default, ${VAR:-x}s) of a config file; comments ignored."""
    required, optional = set(), set()
    doc = yaml.safe_load(text)

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            for m in VAR_RE.finditer(v):
                if m.group(1):  # $${ is a literal
                    continue
                (optional if m.group(3) is not None else required).add(m.group(2))

    walk(doc)
    return required, optional


def substitute(value, env: dict[str, str]):
    """The proxy's ${VAR} / ${VAR:-default} substitution, on a parsed document."""
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, str):
        def rep(m):
            if m.group(1):
                return m.group(0)[1:]
            val = env.get(m.group(2), "")
            if val == "" and m.group(3) is not None:
                return m.group(3)
            return val
        out = VAR_RE.sub(rep, value)
        return int(out) if out.isdigit() else out
    return value


def effective_config(text: str) -> dict:
    required, _ = config_vars(text)
    return substitute(yaml.safe_load(text) or {}, {v: DUMMY_SECRET for v in required})


def config_ports(cfg: dict) -> tuple[int, int | None]:
    server = cfg.get("server") or {}
    port = server.get("port")
    addr = str(server.get("address", ""))
    m = re.search(r":(\d+)$", addr)
    if port is None and m and not addr.endswith("]"):
        port = int(m.group(1))
    metrics = (cfg.get("metrics") or {}).get("port")
    return int(port or 8080), (int(metrics) if metrics else None)


def drain_seconds(cfg: dict) -> int:
    return int((cfg.get("shutdown") or {}).get("timeout_seconds", DEFAULT_DRAIN_SECONDS))


def run_config_test(binary: Path, text: str, label: str) -> list[str]:
    """`yatagarasu --config FILE --test` with dummy values for the ${VAR}s without default."""
    required, optional = config_vars(text)
    # The caller's own values of these variables must not decide the result: defaults apply.
    env = {k: v for k, v in os.environ.items() if k not in required | optional}
    env.update({v: DUMMY_SECRET for v in required})
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        r = subprocess.run(
            [str(binary), "--config", path, "--test"], capture_output=True, text=True, env=env,
            timeout=60,
        )
    finally:
        os.unlink(path)
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().replace(path, f"{label}:config.yaml")
        return [f"yatagarasu --test refused the config: {msg}"]
    return []


# ----------------------------------------------------------------------------- Kubernetes

SERVICEMONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "labels": {"type": "object",
                           "additionalProperties": {"type": "string"}}},
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {"type": "object", "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "namespaceSelector": {"type": "object"},
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": r"^(\d+(ms|s|m|h))+$"},
                            "scrapeTimeout": {"type": "string",
                                              "pattern": r"^(\d+(ms|s|m|h))+$"},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS["monitoring.coreos.com/v1/ServiceMonitor"] = SERVICEMONITOR_SCHEMA


def validate_objects(docs: list[dict], kube_version: str) -> tuple[list[str], list[str]]:
    """(errors, skipped kinds with the reason): kubernetes_validate strict for built-in kinds,
    the schemas above for CRDs."""
    import jsonschema
    import kubernetes_validate

    errors, skipped = [], []
    for d in docs:
        kind = f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        crd = CRD_SCHEMAS.get(f"{d.get('apiVersion')}/{d.get('kind')}")
        if crd is not None:
            for e in jsonschema.Draft202012Validator(crd).iter_errors(d):
                path = ".".join(str(p) for p in e.absolute_path)
                errors.append(f"{kind}: {path}: {e.message} (hand-written CRD schema)")
            continue
        try:
            kubernetes_validate.validate(d, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            errors.append(f"{kind}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            skipped.append(f"{kind}: {e.message}")
    return errors, skipped


def load_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def _one(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def pod_config(docs: list[dict]) -> tuple[dict, dict, str | None, str | None]:
    """(deployment, container, config.yaml text, its ConfigMap's name)."""
    deps = _one(docs, "Deployment")
    if len(deps) != 1:
        raise ValueError(f"want exactly one Deployment, found {len(deps)}")
    dep = deps[0]
    pod = dep["spec"]["template"]["spec"]
    containers = pod.get("containers") or []
    c = next((x for x in containers if x.get("name") == "yatagarasu"), containers[0])
    args = list(c.get("command") or []) + list(c.get("args") or [])
    cfg_path = None
    for i, a in enumerate(args):
        if a in ("--config", "-c") and i + 1 < len(args):
            cfg_path = args[i + 1]
        elif a.startswith("--config="):
            cfg_path = a.split("=", 1)[1]
    if cfg_path is None:
        cfg_path = "/etc/yatagarasu/config.yaml"  # the image's CMD
    for m in c.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if cfg_path.startswith(mp + "/"):
            key = m.get("subPath") or cfg_path[len(mp) + 1 :]
            vol = next((v for v in pod.get("volumes") or [] if v["name"] == m["name"]), None)
            if vol and "configMap" in vol:
                cm_name = vol["configMap"]["name"]
                cms = [d for d in _one(docs, "ConfigMap") if d["metadata"]["name"] == cm_name]
                if cms and key in (cms[0].get("data") or {}):
                    return dep, c, cms[0]["data"][key], cm_name
                return dep, c, None, cm_name
    return dep, c, None, None


def prestop_seconds(container: dict) -> int:
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre:
        return int(pre["sleep"].get("seconds", 0))
    cmd = (pre.get("exec") or {}).get("command") or []
    if cmd and os.path.basename(str(cmd[0])) == "sleep" and len(cmd) > 1:
        return int(float(str(cmd[1]).rstrip("s")))
    return 0


def check_rendered(docs: list[dict], binary: Path | None, label: str,
                   secret_keys_external: bool = False) -> list[str]:
    """Semantic checks of one rendering (Helm or kustomize). `secret_keys_external`: the pod's
    Secret is not rendered (existingSecret), so which keys it has cannot be checked."""
    errors: list[str] = []
    try:
        dep, c, cfg_text, cm_name = pod_config(docs)
    except (ValueError, KeyError, IndexError) as e:
        return [str(e)]
    pod = dep["spec"]["template"]["spec"]
    if cfg_text is None:
        return [f"no ConfigMap key found for the --config path (ConfigMap {cm_name})"]
    try:
        cfg = effective_config(cfg_text)
    except yaml.YAMLError as e:
        return [f"config.yaml is not YAML: {e}"]

    # The config itself.
    if binary is not None:
        errors += run_config_test(binary, cfg_text, label)

    # Every ${VAR} without default comes from the pod's environment.
    required, _ = config_vars(cfg_text)
    provided = {e["name"] for e in c.get("env") or []}
    secret_refs = [s["secretRef"]["name"] for s in c.get("envFrom") or [] if "secretRef" in s]
    cm_refs = [s["configMapRef"]["name"] for s in c.get("envFrom") or [] if "configMapRef" in s]
    for s in _one(docs, "Secret"):
        if s["metadata"]["name"] in secret_refs:
            provided |= set((s.get("data") or {}).keys()) | set((s.get("stringData") or {}).keys())
    for m in _one(docs, "ConfigMap"):
        if m["metadata"]["name"] in cm_refs:
            provided |= set((m.get("data") or {}).keys())
    rendered_secrets = {s["metadata"]["name"] for s in _one(docs, "Secret")}
    external = secret_keys_external or any(r not in rendered_secrets for r in secret_refs)
    if not external:
        for v in sorted(required - provided):
            errors.append(
                f"config.yaml needs ${{{v}}} but the pod's env/envFrom does not provide it"
            )

    # Ports.
    port, metrics_port = config_ports(cfg)
    cports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
    if port not in cports.values():
        errors.append(
            f"server.port {port} of the config is not a containerPort ({sorted(cports.values())})"
        )
    if metrics_port is not None and metrics_port not in cports.values():
        errors.append(f"metrics.port {metrics_port} of the config is not a containerPort")

    def resolve(p):
        return cports.get(p) if isinstance(p, str) else p

    # Probes.
    want = {"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/health"}
    for probe, path in want.items():
        pr = c.get(probe)
        if pr is None:
            if probe != "startupProbe":
                errors.append(f"no {probe}")
            continue
        hg = pr.get("httpGet")
        if not hg:
            errors.append(f"{probe} is not an httpGet probe")
            continue
        if hg.get("path") != path:
            errors.append(f"{probe} path {hg.get('path')!r}, want {path}")
        target = resolve(hg.get("port"))
        if target is None:
            errors.append(f"{probe} port {hg.get('port')!r} is no containerPort")
        elif target not in (port, metrics_port):
            errors.append(f"{probe} port {target} is neither server.port nor metrics.port")
        elif metrics_port is not None and target != metrics_port:
            errors.append(
                f"{probe} uses server.port {port}, which closes at SIGTERM: with metrics.port set, "
                f"probe {metrics_port} (it stays open and answers /ready 503 while draining)"
            )

    # Drain: grace period > drain + preStop sleep.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    drain = drain_seconds(cfg)
    sleep = prestop_seconds(c)
    if grace <= drain + sleep:
        errors.append(
            f"terminationGracePeriodSeconds {grace} <= shutdown.timeout_seconds {drain} + preStop "
            f"sleep {sleep}: the kubelet would SIGKILL a drain in progress"
        )
    if sleep == 0:
        errors.append("no preStop sleep: SIGTERM would arrive before the endpoints are updated")

    # Non-root, read-only root filesystem.
    psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
    if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
        errors.append("runAsNonRoot is not set")
    if csc.get("runAsUser", psc.get("runAsUser")) == 0:
        errors.append("runAsUser is 0")
    if not csc.get("readOnlyRootFilesystem"):
        errors.append("readOnlyRootFilesystem is not set")
    if csc.get("allowPrivilegeEscalation", True):
        errors.append("allowPrivilegeEscalation is not false")

    # What points at the Deployment and its pods.
    pod_labels = dep["spec"]["template"]["metadata"].get("labels") or {}

    def selects(sel):
        return bool(sel) and all(pod_labels.get(k) == v for k, v in sel.items())

    if not selects((dep["spec"].get("selector") or {}).get("matchLabels")):
        errors.append("Deployment selector does not match its pod labels")
    svc_ports: set[str] = set()
    for s in _one(docs, "Service"):
        if not selects(s["spec"].get("selector")):
            errors.append(f"Service {s['metadata']['name']} selects no pod of the Deployment")
        for sp in s["spec"].get("ports") or []:
            svc_ports.add(sp.get("name"))
            tp = sp.get("targetPort", sp["port"])
            if resolve(tp) is None or (isinstance(tp, int) and tp not in cports.values()):
                errors.append(f"Service port {sp.get('name')}: targetPort {tp!r} is no containerPort")
    for h in _one(docs, "HorizontalPodAutoscaler"):
        ref = h["spec"]["scaleTargetRef"]
        if ref.get("kind") != "Deployment" or ref.get("name") != dep["metadata"]["name"]:
            errors.append(f"HPA scaleTargetRef {ref} is not the Deployment")
        if not any(m.get("type") == "Resource" for m in h["spec"].get("metrics") or []):
            errors.append("HPA has no CPU (Resource) metric")
        cpu_req = ((c.get("resources") or {}).get("requests") or {}).get("cpu")
        if cpu_req is None:
            errors.append("HPA on CPU utilization needs resources.requests.cpu")
        for m in h["spec"].get("metrics") or []:
            if m.get("type") == "Pods" and not m["pods"]["metric"]["name"].startswith("yatagarasu_"):
                errors.append(f"HPA Pods metric {m['pods']['metric']['name']!r} is not a yatagarasu one")
    for p in _one(docs, "PodDisruptionBudget"):
        if not selects((p["spec"].get("selector") or {}).get("matchLabels")):
            errors.append(
                f"PodDisruptionBudget {p['metadata']['name']} has no selector.matchLabels that "
                "matches the Deployment's pods (policy/v1: none selects nothing, {} every pod)"
            )
    for sm in _one(docs, "ServiceMonitor"):
        for ep in sm["spec"].get("endpoints") or []:
            if ep.get("port") not in svc_ports:
                errors.append(f"ServiceMonitor port {ep.get('port')!r} is not a Service port")
            if ep.get("path", "/metrics") != "/metrics":
                errors.append(f"ServiceMonitor path {ep.get('path')!r}, want /metrics")
    return errors


# ----------------------------------------------------------------------------- tools


KUSTOMIZE_VERSION = "v5.7.1"  # scripts/install-helm.sh


def find_tool(name: str, version: str, explicit: str | None) -> str | None:
    """A tool scripts/install-helm.sh builds: `explicit`, then $YG_<NAME>, then the tools dir
    (go/<name>-<version>/<name>), then PATH."""
    for cand in (
        explicit,
        os.environ.get(f"YG_{name.upper()}"),
        str(Path(os.environ.get("YG_TOOLS_DIR", Path.home() / ".cache/yatagarasu-tools"))
            / f"go/{name}-{version}/{name}"),
        shutil.which(name),
    ):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def find_helm(explicit: str | None) -> str | None:
    return find_tool("helm", HELM_VERSION, explicit)


def find_kustomize(explicit: str | None) -> str | None:
    return find_tool("kustomize", KUSTOMIZE_VERSION, explicit)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def helm_template(helm: str, chart: Path, values: Path | None, kube_version: str,
                  extra: list[str] | None = None) -> tuple[list[dict] | None, str]:
    cmd = [helm, "template", "yg", str(chart), "--kube-version", kube_version]
    if values:
        cmd += ["-f", str(values)]
    cmd += extra or []
    r = run(cmd)
    if r.returncode != 0:
        return None, (r.stderr or r.stdout).strip()
    return load_docs(r.stdout), ""


def helm_uses_existing_secret(values: Path | None) -> bool:
    if values is None:
        return False
    v = yaml.safe_load(values.read_text()) or {}
    return bool((v.get("secret") or {}).get("existingSecret"))


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(REPO / "build/yatagarasu"),
                    help="a built yatagarasu (ldd, --test); default build/yatagarasu")
    ap.add_argument("--helm", help="helm binary (default: $YG_HELM, the tools dir, PATH)")
    ap.add_argument("--kustomize", help="kustomize binary (default: $YG_KUSTOMIZE, the tools dir, "
                    "PATH)")
    ap.add_argument("--kube-version", default=KUBE_VERSION,
                    help=f"Kubernetes version for the schemas and helm (default {KUBE_VERSION})")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    rep = Report()
    binary = Path(args.binary).resolve()
    if not os.access(binary, os.X_OK):
        print(f"error: {binary} is not an executable (build it: make build)", file=sys.stderr)
        return 2

    # Dockerfile.
    dockerfile = (REPO / "Dockerfile").read_text()
    rep.result("Dockerfile structure", check_dockerfile(dockerfile))
    rep.result(
        "Dockerfile build stage installs scripts/build-packages.txt",
        check_build_packages(dockerfile, read_package_list(REPO / "scripts/build-packages.txt")),
    )
    ignore = REPO / ".dockerignore"
    rep.result("Dockerfile COPY sources exist and .dockerignore keeps them",
               check_copy_sources(dockerfile, ignore.read_text() if ignore.exists() else ""))
    libs, not_found = ldd_libraries(binary)
    lib_pkgs = {lib: dpkg_owner(lib) for lib in libs}
    runtime_pkgs = runtime_stage_packages(dockerfile)
    rep.result(
        f"Dockerfile runtime stage has the packages of all {len(libs)} libraries ldd names",
        check_runtime_packages(lib_pkgs, not_found, runtime_pkgs),
    )
    needed = {p for p in lib_pkgs.values() if p} - SLIM_BASE_PACKAGES
    extra = runtime_pkgs - needed - RUNTIME_EXTRA_PACKAGES
    if extra:
        print(f"note runtime stage installs packages no library needs: {sorted(extra)}")
    docker_cfg = (REPO / "deploy/docker/config.yaml").read_text()
    errs = run_config_test(binary, docker_cfg, "deploy/docker")
    p, mp = config_ports(effective_config(docker_cfg))
    for want in (p, mp):
        if want is not None and want not in exposed_ports(dockerfile):
            errs.append(f"port {want} of deploy/docker/config.yaml is not EXPOSEd")
    rep.result("deploy/docker/config.yaml passes --test, its ports are EXPOSEd", errs)

    # systemd unit.
    unit = REPO / "deploy/yatagarasu.service"
    rep.result("deploy/yatagarasu.service settings", check_unit_semantics(unit.read_text()))
    if shutil.which("systemd-analyze"):
        rep.result("systemd-analyze verify deploy/yatagarasu.service", systemd_verify(unit, binary))
    else:
        rep.skip("systemd-analyze verify", "systemd-analyze is not installed")

    renderings: list[tuple[str, list[dict], bool]] = []

    # Helm.
    helm = find_helm(args.helm)
    chart = REPO / "deploy/helm/yatagarasu"
    if helm is None:
        rep.result("helm", ["helm not found: run scripts/install-helm.sh (or set YG_HELM)"])
    else:
        value_files: list[Path | None] = [None] + sorted((chart / "ci").glob("*.yaml"))
        for vf in value_files:
            label = f"helm {vf.relative_to(REPO) if vf else 'default values'}"
            cmd = [helm, "lint", "--strict", str(chart), "--kube-version", args.kube_version]
            if vf:
                cmd += ["-f", str(vf)]
            r = run(cmd)
            rep.result(f"{label}: helm lint --strict",
                       [] if r.returncode == 0 else [(r.stdout + r.stderr).strip()])
            docs, err = helm_template(helm, chart, vf, args.kube_version)
            rep.result(f"{label}: helm template", [err] if docs is None else [])
            if docs is not None:
                renderings.append((label, docs, helm_uses_existing_secret(vf)))

    # Kustomize.
    kdir = REPO / "deploy/kustomize"
    targets = [kdir / "base"] + sorted(p.parent for p in (kdir / "overlays").glob("*/kustomization.yaml"))
    kustomize = find_kustomize(args.kustomize)
    if kustomize is None:
        rep.result("kustomize", ["kustomize not found: run scripts/install-helm.sh (or set "
                                 "YG_KUSTOMIZE)"])
        targets = []
    for t in targets:
        label = f"kustomize {t.relative_to(REPO)}"
        r = run([kustomize, "build", str(t)])
        rep.result(f"{label}: kustomize build", [] if r.returncode == 0 else [r.stderr.strip()])
        if r.returncode == 0:
            renderings.append((label, load_docs(r.stdout), False))

    for label, docs, external in renderings:
        errs, skipped = validate_objects(docs, args.kube_version)
        kinds = ", ".join(sorted({d["kind"] for d in docs}))
        rep.result(f"{label}: schema (Kubernetes {args.kube_version}, strict): {kinds}", errs)
        for s in skipped:
            rep.skip(f"{label}: schema", s)
        for d in docs:
            if f"{d.get('apiVersion')}/{d.get('kind')}" in CRD_SCHEMAS:
                print(f"note {label}: {d['kind']} is a CRD kubernetes_validate has no schema "
                      "for: checked against the small schema in scripts/check-deploy.py")
        rep.result(f"{label}: config --test, ports, probes, drain, security, references",
                   check_rendered(docs, binary, label, secret_keys_external=external))
        if external:
            rep.skip(f"{label}: env of the config's ${{VAR}}s",
                     "secret.existingSecret is not rendered; its keys cannot be checked")

    took = time.monotonic() - t0
    if rep.failures:
        print(f"\n{len(rep.failures)} check(s) FAILED ({took:.1f} s)")
        return 1
    print(f"\nall deploy checks passed ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
