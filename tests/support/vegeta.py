"""vegeta (a fixed-rate HTTP load generator, github.com/tsenart/vegeta) for tests that change
something under load: a keep-alive attack at a constant rate runs until stop(), which returns
vegeta's own JSON report (status codes, success ratio, latencies, errors).

The binary is the pinned build of scripts/install-load-tools.sh (or $YG_VEGETA); a missing one
is built on first use, never skipped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
VERSION = "v12.13.0"  # scripts/install-load-tools.sh VEGETA_VERSION


def binary() -> Path:
    env = os.environ.get("YG_VEGETA")
    tools = Path(os.environ.get("YG_TOOLS_DIR") or Path.home() / ".cache" / "yatagarasu-tools")
    path = Path(env) if env else tools / "go" / f"vegeta-{VERSION}" / "vegeta"
    if not (path.is_file() and os.access(path, os.X_OK)):
        out = subprocess.run([str(REPO / "scripts" / "install-load-tools.sh"), "vegeta"],
                             stdout=subprocess.PIPE, text=True, check=True, timeout=900)
        m = re.search(r"^vegeta=(.+)$", out.stdout, re.M)
        path = Path(m.group(1)) if m else path
    return path


class Attack:
    """`vegeta attack` at `rate` req/s over `targets` (round robin), keep-alive, until stop()."""

    def __init__(self, base_url: str, targets: List[str], rate: int,
                 headers: Optional[Dict[str, str]] = None, workers: int = 16):
        self.dir = Path(tempfile.mkdtemp(prefix="yg-vegeta-"))
        lines = []
        for t in targets:
            lines.append(f"GET {base_url}{t}")
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            lines.append("")
        (self.dir / "targets.txt").write_text("\n".join(lines))
        self.results = self.dir / "results.bin"
        self.cmd = [str(binary()), "attack", "-rate", f"{rate}/s", "-duration", "0",
                    "-keepalive=true", "-timeout", "30s", "-workers", str(workers),
                    "-targets", str(self.dir / "targets.txt"), "-output", str(self.results)]
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "Attack":
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def stop(self) -> dict:
        """Stops the attack (SIGINT: vegeta finishes writing) and returns `vegeta report -type
        json` as a dict."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        rep = subprocess.run([str(binary()), "report", "-type", "json", str(self.results)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             check=True, timeout=60)
        doc = json.loads(rep.stdout)
        doc["_stderr"] = err.decode("utf-8", "replace")[-2000:]
        return doc
