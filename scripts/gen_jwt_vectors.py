#!/usr/bin/env python3
"""Generates tests/vectors/jwt/vectors.json: JWTs signed by PyJWT + cryptography.

PyJWT is an independent JWS implementation. For each of the 13 algorithms the C++ verifier
supports (HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA), a fresh key
signs one token; the public key is written both as PEM (SubjectPublicKeyInfo) and as a JWK
(PyJWT's own to_jwk). Then come the tokens that must fail: tampered header, payload and
signature of every valid token, alg "none" in several spellings, an HS256 token whose HMAC
secret is the RSA public key PEM (the classic key confusion), and ES tokens carrying a DER
signature instead of the raw r||s of RFC 7518 section 3.4. The C++ test
(tests/unit/auth/jwt_test.cc) reads this file.

Tokens carry no expiry problems: "exp" is 2100-01-01, so the vectors never go stale.

Usage: python3 scripts/gen_jwt_vectors.py [output.json]
Needs: PyJWT and cryptography (both in the tool venv). The output is committed; the keys are
fresh on every run, so rerun only to change the cases.
"""

import base64
import hashlib
import hmac
import json
import pathlib
import secrets
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.example"
AUDIENCE = "yatagarasu"
IAT = 1700000000          # 2023-11-14
EXP = 4102444800          # 2100-01-01


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def compact(header: dict, payload: dict) -> str:
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return h + "." + p


def public_pem(private_key) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def make_keys():
    keys = {
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa4096": rsa.generate_private_key(public_exponent=65537, key_size=4096),
        "rsa1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    out = {}
    for name, k in keys.items():
        if name.startswith("rsa"):
            jwk = RSAAlgorithm.to_jwk(k.public_key(), as_dict=True)
        elif name.startswith("p"):
            jwk = ECAlgorithm.to_jwk(k.public_key(), as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(k.public_key(), as_dict=True)
        jwk["kid"] = name
        jwk["use"] = "sig"
        out[name] = {"pem": public_pem(k), "jwk": jwk}
    # PKCS#1 "BEGIN RSA PUBLIC KEY" form of the 2048-bit key, to test that PEM flavour too.
    out["rsa2048"]["pem_pkcs1"] = keys["rsa2048"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    return keys, out


# Which key signs which algorithm.
ALGS = [
    ("HS256", "hmac"), ("HS384", "hmac"), ("HS512", "hmac"),
    ("RS256", "rsa2048"), ("RS384", "rsa2048"), ("RS512", "rsa2048"),
    ("PS256", "rsa2048"), ("PS384", "rsa2048"), ("PS512", "rsa2048"),
    ("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521"),
    ("EdDSA", "ed25519"),
]


def claims(sub: str) -> dict:
    return {"iss": ISSUER, "sub": sub, "aud": AUDIENCE, "iat": IAT, "exp": EXP,
            "scope": "read write"}


def tamper_header(token: str) -> str:
    h, p, s = token.split(".")
    header = json.loads(b64url_decode(h))
    header["x"] = 1
    return b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + p + "." + s


def tamper_payload(token: str) -> str:
    h, p, s = token.split(".")
    payload = json.loads(b64url_decode(p))
    payload["sub"] = "admin"
    return h + "." + b64url(json.dumps(payload, separators=(",", ":")).encode()) + "." + s


def tamper_signature(token: str) -> str:
    h, p, s = token.split(".")
    sig = bytearray(b64url_decode(s))
    sig[len(sig) // 2] ^= 0x01
    return h + "." + p + "." + b64url(bytes(sig))


def main() -> None:
    out_path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                            pathlib.Path(__file__).resolve().parent.parent /
                            "tests/vectors/jwt/vectors.json")
    hmac_secret = secrets.token_urlsafe(48)  # 64 characters: long enough for HS512
    private, public = make_keys()

    valid = []
    invalid = []
    for alg, key_name in ALGS:
        header = {"typ": "JWT", "kid": key_name}
        key = hmac_secret if key_name == "hmac" else private[key_name]
        token = jwt.encode(claims("alice-" + alg), key, algorithm=alg, headers=header)
        # Self-check with PyJWT before writing the vector.
        verify_key = hmac_secret if key_name == "hmac" else private[key_name].public_key()
        jwt.decode(token, verify_key, algorithms=[alg], audience=AUDIENCE)
        valid.append({"alg": alg, "key": key_name, "token": token})
        for what, fn in (("header", tamper_header), ("payload", tamper_payload),
                         ("signature", tamper_signature)):
            invalid.append({"name": f"{alg}_tampered_{what}", "alg": alg, "key": key_name,
                            "token": fn(token), "expect": "bad_signature"})

    token = jwt.encode(claims("alice-RS256-4096"), private["rsa4096"], algorithm="RS256",
                       headers={"kid": "rsa4096"})
    valid.append({"alg": "RS256", "key": "rsa4096", "token": token})

    # alg "none" and friends: refused at decode time.
    none_token = jwt.encode(claims("mallory"), None, algorithm="none")
    invalid.append({"name": "alg_none", "alg": "none", "key": "hmac", "token": none_token,
                    "expect": "unsupported_alg"})
    for spelling in ("None", "NONE", "nOnE"):
        t = compact({"alg": spelling, "typ": "JWT"}, claims("mallory")) + "."
        invalid.append({"name": "alg_" + spelling, "alg": spelling, "key": "hmac", "token": t,
                        "expect": "unsupported_alg"})
    # "none" with a signature made by the real HMAC key still is "none".
    signing_input = compact({"alg": "none"}, claims("mallory"))
    sig = hmac.new(hmac_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    invalid.append({"name": "alg_none_with_signature", "alg": "none", "key": "hmac",
                    "token": signing_input + "." + b64url(sig), "expect": "unsupported_alg"})

    # Key confusion: HS256 keyed with the bytes of the RSA public key PEM.
    signing_input = compact({"alg": "HS256", "typ": "JWT", "kid": "rsa2048"}, claims("mallory"))
    sig = hmac.new(public["rsa2048"]["pem"].encode(), signing_input.encode(),
                   hashlib.sha256).digest()
    invalid.append({"name": "hs256_with_rsa_public_key", "alg": "HS256", "key": "rsa2048",
                    "token": signing_input + "." + b64url(sig), "expect": "bad_signature"})

    # ES tokens with a DER (X9.62) signature instead of raw r||s.
    for alg, key_name, h in (("ES256", "p256", hashes.SHA256()),
                             ("ES384", "p384", hashes.SHA384()),
                             ("ES512", "p521", hashes.SHA512())):
        signing_input = compact({"alg": alg, "typ": "JWT", "kid": key_name}, claims("alice"))
        der = private[key_name].sign(signing_input.encode(), ec.ECDSA(h))
        invalid.append({"name": f"{alg}_der_signature", "alg": alg, "key": key_name,
                        "token": signing_input + "." + b64url(der), "expect": "bad_signature"})

    doc = {
        "source": "scripts/gen_jwt_vectors.py (PyJWT %s, cryptography)" % jwt.__version__,
        "hmac_secret": hmac_secret,
        "keys": public,
        "valid": valid,
        "invalid": invalid,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out_path}: {len(valid)} valid, {len(invalid)} invalid, "
          f"{out_path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
