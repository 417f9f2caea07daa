#!/usr/bin/env python3
"""Keeps docs/configuration.md's reference tables and the example configs in step with the
config schema (issue #9: "a configuration reference ... checked against the schema").

The key list comes from `yatagarasu --config-schema` (the schema walk itself, in recording
mode; src/config/schema.h), never from a hand-kept list. Conventions in the doc:

  <!-- config-reference: PREFIX [PREFIX ...] -->
  | key | type | default | meaning |
  |---|---|---|---|
  | `full.dotted.path` | ... | ... | hand-written text |
  <!-- /config-reference -->

      A generated table. Every key of the schema belongs to the table whose PREFIX matches it
      longest (PREFIX is a path: `server`, `buckets[].s3`; `.` matches every key). The key,
      type and default columns are generated; the meaning column is written by hand and kept
      when the table is regenerated (by path). Leaf keys always get a row; a section
      (mapping, list of mappings) keeps a row only if the doc gives it one.

  <!-- config-reference-alias: SOURCE = TARGET -->

      Keys under SOURCE are documented by the same-named keys under TARGET (e.g.
      `buckets[].auth.jwt = jwt`). Checked: each such key must resolve to a documented key of
      the same type and default. Longest SOURCE wins; aliases may chain.

Checks (exit 1 listing every difference): every schema key is documented (a row with a
meaning, or an alias), every row and alias names an existing key, the generated columns are
what the schema says now, and every example config under config/ passes `--test`.

  check-config-reference.py [--binary build/yatagarasu] [--doc docs/configuration.md]
                            [--schema FILE.jsonl] [--write] [--no-examples]

Example configs: config/*.yaml and config/examples/**/*.yaml, each run with
`--config F --test`; a `${VAR}` without default that is unset gets a dummy value (a URL for
names with ENDPOINT or URL). EXPECTED_FAILURES lists the intentionally partial ones.

--write regenerates the tables in place (new keys get an empty meaning to fill in; rows of
removed keys go away), then checks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"^<!-- config-reference: (?P<prefixes>[^>]*?) -->\s*$")
END = re.compile(r"^<!-- /config-reference -->\s*$")
ALIAS = re.compile(r"<!-- config-reference-alias: (?P<src>\S+) = (?P<dst>\S+) -->")
HEADER = ["| key | type | default | meaning |", "|---|---|---|---|"]
SECTION_TYPES = {"mapping", "list of mappings"}
CELL_SPLIT = re.compile(r"(?<!\\)\|")

# Example configs that are expected to fail --test, and the only kind of message they may give
# (anything else, e.g. an unknown key, is drift and fails the check).
EXPECTED_FAILURES = {
    # Shows every section of the reference's schema, including the two features this build
    # refuses by design (trace export, request/response logging).
    "config/examples/full-reference.yaml": "is not supported by this build",
}


@dataclass
class Block:
    prefixes: list[str]
    start: int  # index of the BEGIN line
    end: int  # index of the END line
    rows: dict[str, list[str]] = field(default_factory=dict)  # path -> cells


def load_schema(args) -> tuple[list[dict], list[str]]:
    if args.schema:
        text = Path(args.schema).read_text()
        problems = []
    else:
        r = subprocess.run([args.binary, "--config-schema"], capture_output=True, text=True)
        text = r.stdout
        problems = [l for l in r.stderr.splitlines() if l.strip()]
        if r.returncode != 0 and not problems:
            problems = [f"{args.binary} --config-schema exited {r.returncode}"]
    keys = [json.loads(l) for l in text.splitlines() if l.strip()]
    return keys, problems


def under(path: str, prefix: str) -> bool:
    """`prefix` is a path ("a.b": itself and the keys inside it), "." (everything), or a raw
    string prefix ending in "." or "_" (aliases like "x.opa. = x.opa_")."""
    if prefix == ".":
        return True
    if prefix.endswith((".", "_")):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[]")


def tree_order(keys: list[dict]) -> list[dict]:
    """Children right after their parent, siblings in walk order."""
    by_path = {k["path"]: k for k in keys}
    children: dict[str, list[str]] = {}
    for k in keys:
        p = k["path"]
        parent = p[: p.rfind(".")] if "." in p else ""
        if parent.endswith("[]"):  # "a[].b": its parent is "a"
            parent = parent[:-2]
        children.setdefault(parent if parent in by_path else "", []).append(p)
    out: list[dict] = []

    def walk(p: str) -> None:
        for c in children.get(p, []):
            out.append(by_path[c])
            walk(c)

    walk("")
    return out


def type_cell(k: dict) -> str:
    t = k["type"]
    if t == "enum":
        s = " \\| ".join(f"`{v}`" for v in k.get("values", []))
    elif t == "uint":
        lo, hi = k.get("min"), k.get("max")
        s = "uint"
        if hi is not None:
            s += f" {lo or 0}..{hi}"
        elif lo is not None:
            s += f" ≥{lo}"
    else:
        s = t
    return s + (", required" if k.get("required") else "")


def default_cell(k: dict) -> str:
    d = k.get("default")
    if k.get("required") or d is None or d == "" or k["type"] in SECTION_TYPES | {"refused"}:
        return "–"
    if isinstance(d, bool):
        s = "true" if d else "false"
    elif isinstance(d, list):
        s = "[" + ", ".join(str(x) for x in d) + "]"
    else:
        s = str(d)
    return "`" + s.replace("|", "\\|") + "`"


def parse_doc(lines: list[str]) -> tuple[list[Block], list[tuple[str, str]], list[str]]:
    blocks: list[Block] = []
    aliases: list[tuple[str, str]] = []
    errors: list[str] = []
    cur: Block | None = None
    for i, line in enumerate(lines):
        for m in ALIAS.finditer(line):
            aliases.append((m["src"], m["dst"]))
        if m := BEGIN.match(line):
            if cur:
                errors.append(f"line {i + 1}: config-reference block inside another")
            cur = Block(m["prefixes"].split(), i, -1)
            continue
        if END.match(line):
            if not cur:
                errors.append(f"line {i + 1}: /config-reference without a start")
                continue
            cur.end = i
            blocks.append(cur)
            cur = None
            continue
        if cur and line.startswith("| `"):
            cells = [c.strip() for c in CELL_SPLIT.split(line.strip())[1:-1]]
            path = cells[0].strip("`")
            if len(cells) != 4:
                errors.append(f"line {i + 1}: `{path}`: a row needs 4 cells, has {len(cells)}")
                cells = (cells + ["", "", "", ""])[:4]
            if path in cur.rows or any(path in b.rows for b in blocks):
                errors.append(f"line {i + 1}: `{path}` has two rows")
            cur.rows[path] = cells
    if cur:
        errors.append(f"line {cur.start + 1}: config-reference block is not closed")
    return blocks, aliases, errors


def owner(path: str, blocks: list[Block]) -> Block | None:
    best, best_len = None, -1
    for b in blocks:
        for p in b.prefixes:
            n = 0 if p == "." else len(p)
            if under(path, p) and n > best_len:
                best, best_len = b, n
    return best


def resolve(path: str, aliases: list[tuple[str, str]]) -> str:
    for _ in range(10):  # chains are short; a cycle stops here
        src = max((s for s, _ in aliases if under(path, s) and path != s), key=len, default=None)
        if src is None:
            return path
        dst = dict(aliases)[src]
        path = dst + path[len(src) :]
    return path


def rendered_rows(
    block: Block, keys: list[dict], blocks: list[Block], aliases: list, documented: dict
) -> list[str]:
    out = list(HEADER)
    for k in keys:
        p = k["path"]
        if owner(p, blocks) is not block:
            continue
        if p not in documented and (k["type"] in SECTION_TYPES or resolve(p, aliases) != p):
            continue
        meaning = documented.get(p, "")
        out.append(f"| `{p}` | {type_cell(k)} | {default_cell(k)} | {meaning} |")
    return out


def check(keys: list[dict], lines: list[str]) -> list[str]:
    blocks, aliases, errors = parse_doc(lines)
    if not blocks:
        return errors + ["no <!-- config-reference: ... --> tables in the doc"]
    by_path = {k["path"]: k for k in keys}
    rows = {p: cells for b in blocks for p, cells in b.rows.items()}

    for src, dst in aliases:
        for side in (src, dst):
            if not any(under(k, side) for k in by_path):
                errors.append(f"alias {src} = {dst}: `{side}` names no key of the schema")

    for k in keys:
        p = k["path"]
        b = owner(p, blocks)
        if k["type"] in SECTION_TYPES and p not in rows:
            continue  # sections need no row; their keys do
        target = resolve(p, aliases) if p not in rows else p
        if target != p:
            t = by_path.get(target)
            if t is None:
                errors.append(f"`{p}`: alias target `{target}` is not a key of the schema")
            elif target not in rows:
                errors.append(f"`{p}`: alias target `{target}` is not documented")
            elif (t["type"], t.get("default"), t.get("values")) != (
                k["type"],
                k.get("default"),
                k.get("values"),
            ):
                errors.append(
                    f"`{p}`: differs from its alias target `{target}` in type or default "
                    "(give it its own row)"
                )
            continue
        if p not in rows:
            where = "" if b else " (and no config-reference table covers it)"
            errors.append(f"`{p}`: not documented{where}")
            continue
        if b is None or p not in b.rows:
            errors.append(f"`{p}`: documented in the wrong table (belongs to {b.prefixes if b else 'none'})")
        cells = rows[p]
        if cells[1] != type_cell(k):
            errors.append(f"`{p}`: type is '{type_cell(k)}', the doc says '{cells[1]}'")
        if cells[2] != default_cell(k):
            errors.append(f"`{p}`: default is '{default_cell(k)}', the doc says '{cells[2]}'")
        if not cells[3]:
            errors.append(f"`{p}`: no meaning written")

    for p in rows:
        if p not in by_path:
            errors.append(f"`{p}`: documented, but the schema has no such key")
    return errors


def write(keys: list[dict], lines: list[str]) -> list[str]:
    blocks, aliases, errors = parse_doc(lines)
    if errors:
        return lines
    documented = {p: cells[3] for b in blocks for p, cells in b.rows.items()}
    out: list[str] = []
    pos = 0
    for b in blocks:
        out += lines[pos : b.start + 1]
        out += rendered_rows(b, keys, blocks, aliases, documented)
        pos = b.end
    out += lines[pos:]
    return out


def dummy_env(text: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text):
        url = "ENDPOINT" in name or "URL" in name
        env.setdefault(name, "http://127.0.0.1:9" if url else "dummy-" + name.lower())
    return env


def check_examples(binary: str, config_dir: Path) -> tuple[list[str], int]:
    errors = []
    base = config_dir.parent
    files = sorted(config_dir.glob("*.yaml")) + sorted(config_dir.glob("examples/**/*.yaml"))
    files += sorted(config_dir.glob("examples/**/*.yml"))
    for f in files:
        rel = f.relative_to(base).as_posix()
        r = subprocess.run(
            [binary, "--config", str(f), "--test"],
            capture_output=True,
            text=True,
            env=dummy_env(f.read_text()),
            cwd=ROOT,
        )
        expected = EXPECTED_FAILURES.get(rel)
        msgs = [l for l in r.stderr.splitlines() if l and not l.startswith("yatagarasu: ")]
        if expected is None:
            if r.returncode != 0:
                errors.append(f"{rel}: fails --test:\n    " + "\n    ".join(r.stderr.splitlines()))
        elif r.returncode == 0:
            errors.append(f"{rel}: expected to fail --test ({expected!r}) but passes; update "
                          "EXPECTED_FAILURES in scripts/check-config-reference.py")
        elif r.returncode != 1 or not any(expected in m for m in msgs):
            errors.append(f"{rel}: expected exit 1 with {expected!r}, got exit {r.returncode}:\n"
                          "    " + "\n    ".join(r.stderr.splitlines()))
        else:
            for m in msgs:
                if expected not in m:
                    errors.append(f"{rel}: {m}")
    for rel in EXPECTED_FAILURES:
        if config_dir == ROOT / "config" and not (ROOT / rel).exists():
            errors.append(f"{rel}: listed in EXPECTED_FAILURES but missing")
    return errors, len(files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(ROOT / "build" / "yatagarasu"))
    ap.add_argument("--doc", default=str(ROOT / "docs" / "configuration.md"))
    ap.add_argument("--schema", help="JSON lines as printed by --config-schema (else run --binary)")
    ap.add_argument("--write", action="store_true", help="regenerate the tables, then check")
    ap.add_argument("--no-examples", action="store_true", help="skip the config/ examples")
    ap.add_argument("--config-dir", default=str(ROOT / "config"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    keys, errors = load_schema(args)
    keys = tree_order(keys)
    doc = Path(args.doc)
    lines = doc.read_text().split("\n")
    if args.write:
        new = write(keys, lines)
        if new != lines:
            doc.write_text("\n".join(new))
            print(f"{args.doc}: reference tables regenerated")
            lines = new
    errors += check(keys, lines)
    n_examples = 0
    if not args.no_examples:
        ex_errors, n_examples = check_examples(args.binary, Path(args.config_dir).resolve())
        errors += ex_errors
    if errors:
        print(f"{args.doc} / config examples differ from the config schema:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        print(
            f"{len(errors)} problem(s). Regenerate the tables with `make config-reference`, "
            "then write the missing meanings.",
            file=sys.stderr,
        )
        return 1
    leaves = sum(1 for k in keys if k["type"] not in SECTION_TYPES)
    print(
        f"config reference OK: {len(keys)} schema keys ({leaves} leaves) documented"
        + (f", {n_examples} example configs pass --test" if not args.no_examples else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
