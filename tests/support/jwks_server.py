"""A JWKS endpoint run by the test itself (DESIGN.md section 5: "JWKS: a small HTTP server inside
the test that serves keys it generated"), plus the key material and PyJWT minting helpers the
auth tests share. Keys are generated fresh per run; tokens are minted by PyJWT, never by the
proxy's code.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA"]


def _b64(n: int, length: Optional[int] = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class KeyPair:
    alg: str
    kid: str
    private: object          # cryptography private key, or bytes for HS
    public_pem: bytes = b""  # empty for HS

    def jwk(self) -> dict:
        pub = self.private.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            nums = pub.public_numbers()
            return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": self.alg,
                    "n": _b64(nums.n), "e": _b64(nums.e)}
        if isinstance(pub, ec.EllipticCurvePublicKey):
            nums = pub.public_numbers()
            size = (pub.curve.key_size + 7) // 8
            crv = {256: "P-256", 384: "P-384", 521: "P-521"}[pub.curve.key_size]
            return {"kty": "EC", "kid": self.kid, "use": "sig", "alg": self.alg, "crv": crv,
                    "x": _b64(nums.x, size), "y": _b64(nums.y, size)}
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "kid": self.kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
                "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}

    def mint(self, claims: Optional[dict] = None, *, kid: Optional[str] = "default",
             lifetime: int = 600, headers: Optional[dict] = None) -> str:
        now = int(time.time())
        body = {"sub": "user-" + self.alg.lower(), "iat": now, "exp": now + lifetime}
        body.update(claims or {})
        hdr = dict(headers or {})
        if kid == "default":
            hdr["kid"] = self.kid
        elif kid is not None:
            hdr["kid"] = kid
        return jwt.encode(body, self.private, algorithm=self.alg, headers=hdr or None)


def make_key(alg: str, kid: Optional[str] = None) -> KeyPair:
    kid = kid or alg.lower()
    if alg.startswith("HS"):
        return KeyPair(alg, kid, ("hs-secret-" + alg + "-" + base64.b16encode(
            __import__("os").urandom(16)).decode()).encode())
    if alg[:2] in ("RS", "PS"):
        priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        priv = ec.generate_private_key(ec.SECP256R1())
    elif alg == "ES384":
        priv = ec.generate_private_key(ec.SECP384R1())
    elif alg == "ES512":
        priv = ec.generate_private_key(ec.SECP521R1())
    else:
        priv = ed25519.Ed25519PrivateKey.generate()
    pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(alg, kid, priv, pem)


def write_pem(k: KeyPair, d: Path) -> str:
    p = d / f"{k.kid}.pem"
    p.write_bytes(k.public_pem)
    return str(p)


class JwksServer:
    """Serves `keys` as a JWK Set at /jwks.json. mode: 'ok', 'down' (connection refused: the
    listener is closed), 'garbage' (200 with a body that is not a JWK Set), '500'.
    Counts every fetch."""

    def __init__(self):
        self.keys: List[KeyPair] = []
        self.mode = "ok"
        self.hits = 0
        self.hit_times: List[float] = []
        self._lock = threading.Lock()
        self._srv: Optional[ThreadingHTTPServer] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks.json"

    def body(self) -> bytes:
        if self.mode == "garbage":
            return b"<html>this is not a JWK set</html>"
        return json.dumps({"keys": [k.jwk() for k in self.keys]}).encode()

    def start(self, port: int = 0) -> "JwksServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with owner._lock:
                    owner.hits += 1
                    owner.hit_times.append(time.monotonic())
                if owner.mode == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = owner.body()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self._srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._srv.server_address[1]
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._srv:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None
