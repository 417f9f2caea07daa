"""Proxy bucket layouts used by the integration tests."""

from __future__ import annotations

import catalog
from fault_server import FaultServer
from proxy import bucket_block, register_secret, s3_block


def moto_bucket(moto, name: str, prefix: str, s3_bucket: str, timeout: int = 5, **s3_extra):
    return bucket_block(name, prefix, s3_block(moto.url, s3_bucket, moto.access_key,
                                               moto.secret_key, timeout=timeout, **s3_extra))


def standard_buckets(moto_auth, moto_noauth=None, timeout: int = 5) -> list:
    """/public /pub /a /a/b /versioned on the signature-checking moto, /hostile on the other."""
    out = [moto_bucket(moto_auth, name, prefix, s3_bucket, timeout)
           for name, (prefix, s3_bucket) in catalog.ROUTES.items()]
    if moto_noauth is not None:
        name, prefix, s3_bucket = catalog.HOSTILE_ROUTE
        out.append(moto_bucket(moto_noauth, name, prefix, s3_bucket, timeout))
    return out


FAKE_ACCESS_KEY = "AKIAFAKEBACKEND00000"
FAKE_SECRET_KEY = "fake-backend-secret-Zq8vW3xK"


def fake_bucket(server: FaultServer, name: str = "fake", prefix: str = "/fake",
                timeout: int = 5) -> dict:
    """A bucket whose backend is a FAKE fault server (stall / reset / 503 / trickle / chunked)."""
    return bucket_block(name, prefix, s3_block(server.url, "fake-bucket", FAKE_ACCESS_KEY,
                                               register_secret(FAKE_SECRET_KEY),
                                               timeout=timeout))
