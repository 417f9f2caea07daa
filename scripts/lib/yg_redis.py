"""Debian's redis-server for the integration tests and the load scripts: a standalone server
(password, ACL users, TLS, maxmemory) and a 6-node Redis Cluster (3 masters + 3 replicas).

Like every server the tests start (yg_procs): 127.0.0.1 only, free ports, a temp dir as cwd
and `dir`, no persistence (`save ""`, `appendonly no`), its own session, stopped by PID.

    with RedisServer(tmp / "redis", password="pw", users=[("app", "apppw")]) as r:
        r.url(db=3)                  # "redis://:pw@127.0.0.1:PORT/3"
        r.cli("SET", "k", "v")       # redis-cli with the right auth / TLS flags
        r.pause(); r.resume()        # SIGSTOP / SIGCONT
        r.kill(); r.restart()        # SIGKILL, then the same port again (empty: no persistence)

    with RedisCluster(tmp / "cluster", password="pw") as c:
        c.seeds()                    # ["127.0.0.1:p1", ...] (all six nodes)
        c.masters()                  # [master ports], c.replicas() -> {replica: its master}
        c.failover(c.masters()[0])   # CLUSTER FAILOVER on one of its replicas, waits until done

The processes are started with yg_procs.die_with_parent (SIGTERM if the starting thread exits):
call start()/restart() from a long-lived thread (the main thread in pytest).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yg_procs

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
LOOPBACK = yg_procs.LOOPBACK


class RedisError(RuntimeError):
    """redis-cli failed or Redis answered with an error reply."""


def require_binaries() -> None:
    """Raises RuntimeError naming what is missing (a test must fail, never skip, without it)."""
    missing = [b for b in (REDIS_SERVER, REDIS_CLI) if not os.access(b, os.X_OK)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} missing: apt-get install redis-server "
                           "(scripts/install-deps.sh)")


# --- TLS material ------------------------------------------------------------------------------

class RedisTLS:
    """A throwaway CA (P-256, valid one day) and a server certificate for 127.0.0.1 / localhost
    signed by it, written to `workdir` as ca.pem, server.crt, server.key. `other_ca_file` is a
    second, unrelated CA (for "wrong CA" tests), made on first access."""

    def __init__(self, workdir: Path):
        from cryptography.hazmat.primitives import serialization

        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = _make_ca("yatagarasu redis test CA")
        key, cert = _make_leaf(ca_key, ca_cert, "127.0.0.1", ["localhost"], ["127.0.0.1"])
        self.ca_file = self.dir / "ca.pem"
        self.cert_file = self.dir / "server.crt"
        self.key_file = self.dir / "server.key"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(self.key_file, key)
        self._other: Optional[Path] = None

    @property
    def other_ca_file(self) -> Path:
        """A CA that did NOT sign the server certificate."""
        if self._other is None:
            from cryptography.hazmat.primitives import serialization
            _, cert = _make_ca("some other CA")
            self._other = self.dir / "other-ca.pem"
            self._other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return self._other


def _x509_name(cn: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yatagarasu tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_ca(cn: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(_x509_name(cn)).issuer_name(_x509_name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _make_leaf(ca_key, ca_cert, cn: str, dns: Sequence[str], ips: Sequence[str]):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i))
                                             for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(_x509_name(cn)).issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _write_key(path: Path, key) -> None:
    from cryptography.hazmat.primitives import serialization
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _conf_quote(s: str) -> str:
    """A redis.conf argument: double-quoted, with backslash and quote escaped."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- one server --------------------------------------------------------------------------------

class RedisServer:
    """One redis-server on 127.0.0.1 (see the module docstring).

    Arguments:
      workdir      its directory (created): redis.conf, redis.log, TLS files, cluster state
      password     `requirepass` (the default user's password); None: no password
      users        ACL users [(name, password)], each `on >password ~* &* +@all`
      tls          serve TLS only (`--tls-port P --port 0`, `tls-auth-clients no`) with a
                   certificate for 127.0.0.1/localhost from a CA made here (`ca_file`);
                   pass a RedisTLS as `tls` to share one CA between servers
      maxmemory    e.g. "64mb" (with `maxmemory_policy`, default allkeys-lru)
      port         a fixed port (default: a free one, kept across restart())
      cluster      cluster-enabled yes (RedisCluster uses this), cluster_port = its bus port
      masterauth   for replicas of a password-protected master (cluster)
      extra        more redis.conf lines
    """

    def __init__(self, workdir: Path, *, password: Optional[str] = None,
                 users: Sequence[Tuple[str, str]] = (), tls=False,
                 maxmemory: Optional[str] = None, maxmemory_policy: str = "allkeys-lru",
                 port: int = 0, cluster: bool = False, cluster_port: int = 0,
                 cluster_node_timeout_ms: int = 2000, masterauth: Optional[str] = None,
                 extra: Sequence[str] = (), name: str = "redis"):
        require_binaries()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.password = password
        self.users = list(users)
        self.tls: Optional[RedisTLS] = (tls if isinstance(tls, RedisTLS)
                                        else RedisTLS(self.dir / "tls") if tls else None)
        self.maxmemory = maxmemory
        self.maxmemory_policy = maxmemory_policy
        self.port = port or yg_procs.free_port()
        self.cluster = cluster
        self.cluster_port = cluster_port or (yg_procs.free_port() if cluster else 0)
        self.cluster_node_timeout_ms = cluster_node_timeout_ms
        self.masterauth = masterauth
        self.extra = list(extra)
        self.proc: Optional[subprocess.Popen] = None
        self.conf_path = self.dir / "redis.conf"
        self.log_path = self.dir / "redis.log"
        self.paused = False

    # -- addresses --

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def addr(self) -> str:
        """"127.0.0.1:PORT"."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def ca_file(self) -> Optional[Path]:
        """The CA that signed the server certificate (TLS only)."""
        return self.tls.ca_file if self.tls else None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    def url(self, db: Optional[int] = None, *, user: Optional[str] = None,
            password: Optional[str] = None, auth: bool = True, host: str = LOOPBACK) -> str:
        """`redis://[user[:password]@]host:port[/db]` (`rediss://` with TLS). By default the
        credentials are the server's password (no user: `redis://:pw@...`); `user`/`password`
        override them (an ACL user: url(user="app", password="apppw")); auth=False leaves
        them out. Credentials are percent-encoded."""
        scheme = "rediss" if self.tls else "redis"
        pw = password if password is not None else (self.password if auth else None)
        cred = ""
        if auth and (user or pw):
            cred = urllib.parse.quote(user or "", safe="")
            if pw:
                cred += ":" + urllib.parse.quote(pw, safe="")
            cred += "@"
        path = f"/{db}" if db is not None else ""
        return f"{scheme}://{cred}{host}:{self.port}{path}"

    # -- lifecycle --

    def _conf_text(self) -> str:
        lines = [
            f"bind {LOOPBACK}",
            "protected-mode no",
            f"dir {_conf_quote(str(self.dir))}",
            'save ""',
            "appendonly no",
            "daemonize no",
            f"logfile {_conf_quote(str(self.log_path))}",
            "loglevel notice",
            "databases 16",
        ]
        if self.tls:
            lines += ["port 0", f"tls-port {self.port}",
                      f"tls-cert-file {_conf_quote(str(self.tls.cert_file))}",
                      f"tls-key-file {_conf_quote(str(self.tls.key_file))}",
                      f"tls-ca-cert-file {_conf_quote(str(self.tls.ca_file))}",
                      "tls-auth-clients no"]
            if self.cluster:
                lines += ["tls-cluster yes", "tls-replication yes"]
        else:
            lines += [f"port {self.port}"]
        if self.password is not None:
            lines.append(f"requirepass {_conf_quote(self.password)}")
        for user, pw in self.users:
            lines.append(f"user {user} on {_conf_quote('>' + pw)} ~* &* +@all")
        if self.maxmemory:
            lines += [f"maxmemory {self.maxmemory}", f"maxmemory-policy {self.maxmemory_policy}"]
        if self.cluster:
            # Replicas sync at once (the default waits 5 s for more replicas to join a
            # diskless transfer).
            lines += ["repl-diskless-sync-delay 0", "cluster-enabled yes",
                      f"cluster-config-file {_conf_quote(str(self.dir / 'nodes.conf'))}",
                      f"cluster-node-timeout {self.cluster_node_timeout_ms}",
                      f"cluster-port {self.cluster_port}",
                      "cluster-require-full-coverage yes"]
            if self.masterauth is not None:
                lines.append(f"masterauth {_conf_quote(self.masterauth)}")
        lines += self.extra
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Writes redis.conf and starts redis-server; returns once it answers PING."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.conf_path.write_text(self._conf_text())
        self.conf_path.chmod(0o600)
        with open(self.dir / "redis.stdout.log", "ab") as out:
            self.proc = subprocess.Popen([REDIS_SERVER, str(self.conf_path)],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         start_new_session=True,
                                         preexec_fn=yg_procs.die_with_parent)
        self.paused = False
        try:
            yg_procs.wait_port(self.port, timeout=timeout, proc=self.proc, what=self.name,
                               log=self.log_path)
            yg_procs.wait_until(lambda: self.ping(), timeout=timeout,
                                what=f"{self.name} answering PING\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a frozen Redis)."""
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after pause()."""
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL (a crash): every connection reset, all data lost (no persistence)."""
        if self.alive():
            if self.paused:
                self.resume()
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, timeout: float = 10.0) -> "RedisServer":
        """Stops the server if it still runs (SIGKILL) and starts it again on the same port
        (and cluster bus port) with the same settings; it comes back empty."""
        self.kill()
        deadline = time.monotonic() + timeout
        while True:  # the port may linger for a moment after a kill
            try:
                return self.start(timeout=max(1.0, deadline - time.monotonic()))
            except yg_procs.ProcessExited:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID (SIGKILL after `timeout`); resumes a paused server first."""
        if self.proc is None:
            return
        if self.alive() and self.paused:
            self.resume()
        yg_procs.stop_pid(self.proc, timeout=timeout)
        self.proc = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        return yg_procs.tail_text(self.log_path, lines)

    # -- talking to it --

    def cli_args(self, *, user: Optional[str] = None, password: Optional[str] = None,
                 db: Optional[int] = None) -> List[str]:
        """redis-cli's connection flags (host, port, auth, TLS, db), for callers building their
        own command line (e.g. `--cluster create`). Auth: `user`/`password` if given, else the
        server's password, else the first ACL user."""
        args = [REDIS_CLI, "-h", LOOPBACK, "-p", str(self.port)]
        pw = password if password is not None else self.password
        if user is None and password is None and self.password is None and self.users:
            user, pw = self.users[0]
        if user is not None:
            args += ["--user", user]
        if pw is not None:
            args += ["--pass", pw]
        args.append("--no-auth-warning")
        if self.tls:
            args += ["--tls", "--cacert", str(self.tls.ca_file)]
        if db is not None:
            args += ["-n", str(db)]
        return args

    def cli(self, *args: str, db: Optional[int] = None, user: Optional[str] = None,
            password: Optional[str] = None, check: bool = True, timeout: float = 10.0,
            raw: bool = True) -> str:
        """Runs one command with redis-cli and returns its output (stripped; `--raw` by
        default, so a list reply is one element per line, a nil reply is empty). With `check`
        an error reply or a failed redis-cli raises RedisError."""
        cmd = self.cli_args(user=user, password=password, db=db)
        if raw:
            cmd.append("--raw")
        cmd += [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        out = r.stdout.decode("utf-8", "replace").strip()
        err = r.stderr.decode("utf-8", "replace").strip()
        if check and (r.returncode != 0 or _is_error_reply(out)):
            raise RedisError(f"{self.name}: redis-cli {' '.join(str(a) for a in args)}: "
                             f"rc={r.returncode} {out or err}")
        return out

    def cli_bytes(self, *args: str, db: Optional[int] = None, timeout: float = 10.0) -> bytes:
        """Like cli() but returns the raw reply bytes unstripped (e.g. GET of a binary value;
        redis-cli --raw appends one newline, removed here)."""
        cmd = self.cli_args(db=db) + ["--raw"] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RedisError(f"{self.name}: redis-cli {args}: rc={r.returncode} {r.stderr!r}")
        return r.stdout[:-1] if r.stdout.endswith(b"\n") else r.stdout

    def ping(self) -> bool:
        """True when the server answers PONG with the configured credentials."""
        try:
            return self.cli("PING", timeout=2.0) == "PONG"
        except (RedisError, subprocess.TimeoutExpired):
            return False

    def keys(self, pattern: str = "*", db: Optional[int] = None) -> List[str]:
        """Every key matching `pattern` (SCAN, so safe on a big database), sorted. Keys are
        decoded as UTF-8 (binary bytes replaced)."""
        out = self.cli("--scan", "--pattern", pattern, db=db)
        return sorted(k for k in out.splitlines() if k)

    def ttl(self, key: str, db: Optional[int] = None) -> int:
        """TTL in seconds (-1: no expiry, -2: no such key)."""
        return int(self.cli("TTL", key, db=db))

    def pttl(self, key: str, db: Optional[int] = None) -> int:
        return int(self.cli("PTTL", key, db=db))

    def info(self, section: str = "") -> Dict[str, str]:
        """INFO [section] as a dict (key: value lines)."""
        out = self.cli(*(["INFO", section] if section else ["INFO"]))
        return _parse_info(out)

    def flushall(self) -> None:
        self.cli("FLUSHALL")


def _is_error_reply(out: str) -> bool:
    first = out.split("\n", 1)[0]
    return first.startswith(("ERR", "WRONGPASS", "NOAUTH", "NOPERM", "WRONGTYPE", "MOVED",
                             "ASK", "CLUSTERDOWN", "LOADING", "READONLY", "NOSCRIPT",
                             "(error)", "Could not connect", "Error:"))


def _parse_info(text: str) -> Dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            k, _, v = line.partition(":")
            out[k] = v
    return out


# --- cluster -----------------------------------------------------------------------------------

class ClusterNode:
    """One line of CLUSTER NODES."""

    def __init__(self, line: str):
        f = line.split()
        self.id = f[0]
        hostport = f[1].split("@")[0].split(",")[0]
        self.port = int(hostport.rsplit(":", 1)[1])
        self.flags = set(f[2].split(","))
        self.master_id = f[3] if f[3] != "-" else None
        self.link = f[7]
        self.slots = f[8:]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return bool(self.flags & {"fail", "fail?"})


class RedisCluster:
    """Six redis-server nodes (cluster-enabled, cluster-node-timeout 2000 ms by default) made into
    3 masters + 3 replicas with `redis-cli --cluster create --cluster-replicas 1`. start()
    returns once every node reports cluster_state:ok with all 16384 slots covered, and every
    replica is in sync with its master. With `password`, every node has requirepass and
    masterauth set to it. `tls` as for RedisServer (one CA for all nodes, `ca_file`)."""

    def __init__(self, workdir: Path, *, nodes: int = 6, replicas: int = 1,
                 password: Optional[str] = None, tls: bool = False,
                 node_timeout_ms: int = 2000, maxmemory: Optional[str] = None):
        require_binaries()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.replicas_per_master = replicas
        self.tls = RedisTLS(self.dir / "tls") if tls else None
        self.nodes: List[RedisServer] = [
            RedisServer(self.dir / f"node{i}", password=password, masterauth=password,
                        tls=self.tls or False, cluster=True,
                        cluster_node_timeout_ms=node_timeout_ms, maxmemory=maxmemory,
                        name=f"redis-cluster-node{i}")
            for i in range(nodes)]

    @property
    def ca_file(self) -> Optional[Path]:
        return self.tls.ca_file if self.tls else None

    def node(self, port: int) -> RedisServer:
        for n in self.nodes:
            if n.port == port:
                return n
        raise KeyError(port)

    def seeds(self) -> List[str]:
        """Every node as "127.0.0.1:PORT" (for cache.redis.cluster)."""
        return [n.addr for n in self.nodes]

    def url(self, *, auth: bool = True) -> str:
        """`redis://:pw@127.0.0.1:PORT` of the first node (scheme and credentials for a proxy
        in cluster mode; rediss:// with TLS)."""
        return self.nodes[0].url(auth=auth)

    # -- lifecycle --

    def start(self, timeout: float = 30.0) -> "RedisCluster":
        t0 = time.monotonic()
        try:
            for n in self.nodes:  # each waits for its own PING; they start in ~10 ms each
                n.start()
            cmd = self.nodes[0].cli_args() + ["--cluster", "create", *self.seeds(),
                                              "--cluster-replicas",
                                              str(self.replicas_per_master), "--cluster-yes"]
            r = subprocess.run(cmd, capture_output=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
            out = r.stdout.decode("utf-8", "replace")
            if r.returncode != 0 or "[OK] All 16384 slots covered" not in out:
                raise RedisError(f"redis-cli --cluster create failed (rc={r.returncode}):\n"
                                 f"{out[-3000:]}\n{r.stderr.decode('utf-8', 'replace')[-2000:]}")
            self.wait_healthy(timeout=max(5.0, timeout - (time.monotonic() - t0)))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops every node by PID."""
        for n in self.nodes:
            n.stop()

    def __enter__(self) -> "RedisCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state --

    def cluster_nodes(self, via: Optional[int] = None) -> List[ClusterNode]:
        """CLUSTER NODES as seen by node `via` (default: the first running node)."""
        n = self.node(via) if via else next(x for x in self.nodes if x.alive() and not x.paused)
        return [ClusterNode(line) for line in n.cli("CLUSTER", "NODES").splitlines()
                if line.strip()]

    def cluster_info(self, port: int) -> Dict[str, str]:
        return _parse_info(self.node(port).cli("CLUSTER", "INFO"))

    def masters(self) -> List[int]:
        """Ports of the masters owning slots, sorted (by the first running node's view)."""
        return sorted(n.port for n in self.cluster_nodes() if n.is_master and n.slots
                      and not n.failed)

    def replicas(self) -> Dict[int, int]:
        """{replica port: its master's port}."""
        nodes = self.cluster_nodes()
        by_id = {n.id: n.port for n in nodes}
        return {n.port: by_id[n.master_id] for n in nodes
                if not n.is_master and n.master_id in by_id}

    def _healthy(self) -> bool:
        running = [n for n in self.nodes if n.alive() and not n.paused]
        views = []
        for n in running:
            info = self.cluster_info(n.port)
            if (info.get("cluster_state") != "ok"
                    or info.get("cluster_slots_assigned") != "16384"
                    or info.get("cluster_slots_ok") != "16384"):
                return False
            nodes = self.cluster_nodes(n.port)
            views.append(sorted((x.port, x.is_master) for x in nodes if not x.failed))
        if not views or any(v != views[0] for v in views):
            return False  # the nodes do not agree on who is master yet
        for replica in self.replicas():
            r = self.node(replica)
            if r.alive() and not r.paused:
                if r.info("replication").get("master_link_status") != "up":
                    return False
        return True

    def wait_healthy(self, timeout: float = 20.0) -> None:
        """Until every running node says cluster_state:ok with 16384 slots ok, all agree on the
        roles, and every replica's link to its master is up."""
        yg_procs.wait_until(self._healthy, timeout=timeout, interval=0.1,
                            what="the Redis Cluster to be healthy (cluster_state:ok, all slots "
                                 "covered, replicas in sync)")

    def failover(self, master_port: int, timeout: float = 20.0) -> int:
        """Manual failover of `master_port`: `CLUSTER FAILOVER` on one of its replicas, then
        waits until that replica is a master owning slots, the old master is its replica, and
        the cluster is healthy again. Returns the new master's port."""
        reps = [r for r, m in self.replicas().items() if m == master_port]
        assert reps, f"{master_port} has no replica: {self.replicas()}"
        new = reps[0]
        self.node(new).cli("CLUSTER", "FAILOVER")

        def switched():
            if not self._healthy():
                return False
            nodes = {n.port: n for n in self.cluster_nodes(new)}
            return (nodes[new].is_master and bool(nodes[new].slots)
                    and not nodes[master_port].is_master)

        yg_procs.wait_until(switched, timeout=timeout, interval=0.1,
                            what=f"the failover of {master_port} to {new}")
        return new

    def keyslot(self, key: str) -> int:
        """CLUSTER KEYSLOT (hash tags honoured)."""
        return int(self.nodes[0].cli("CLUSTER", "KEYSLOT", key))

    def master_of(self, key: str) -> int:
        """The port of the master owning `key`'s slot."""
        slot = self.keyslot(key)
        for n in self.cluster_nodes():
            if not n.is_master or n.failed:
                continue
            for rng in n.slots:
                if rng.startswith("["):
                    continue  # a slot being migrated
                lo, _, hi = rng.partition("-")
                if int(lo) <= slot <= int(hi or lo):
                    return n.port
        raise KeyError(f"no master for slot {slot}")

    def keys_by_master(self, pattern: str = "*") -> Dict[int, List[str]]:
        """{master port: sorted keys matching `pattern` held there}."""
        return {m: self.node(m).keys(pattern) for m in self.masters()}

    def keys(self, pattern: str = "*") -> List[str]:
        """Every key matching `pattern` over all masters, sorted."""
        return sorted(k for ks in self.keys_by_master(pattern).values() for k in ks)

    def cli(self, *args: str, check: bool = True, timeout: float = 10.0) -> str:
        """One command through redis-cli -c (follows MOVED/ASK), sent to the first node."""
        cmd = self.nodes[0].cli_args() + ["-c", "--raw"] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        out = r.stdout.decode("utf-8", "replace").strip()
        if check and (r.returncode != 0 or _is_error_reply(out)):
            raise RedisError(f"cluster: redis-cli {args}: rc={r.returncode} {out} "
                             f"{r.stderr.decode('utf-8', 'replace')}")
        return out


if __name__ == "__main__":  # a quick manual check: python yg_redis.py [cluster]
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        if sys.argv[1:] == ["cluster"]:
            with RedisCluster(Path(d), password="pw") as c:
                print(f"cluster up in {time.monotonic() - t0:.2f} s: masters {c.masters()}, "
                      f"replicas {c.replicas()}")
                t1 = time.monotonic()
                new = c.failover(c.masters()[0])
                print(f"failover to {new} in {time.monotonic() - t1:.2f} s; "
                      f"masters {c.masters()}")
        else:
            with RedisServer(Path(d), password="pw", users=[("app", "apppw")]) as r:
                print(f"redis up in {time.monotonic() - t0:.2f} s at {r.url(db=3)}: "
                      f"{r.cli('PING')}")
    shutil.rmtree(d, ignore_errors=True)
