#!/usr/bin/env python3
"""Generates tests/vectors/sigv4/botocore.json: S3 GET/HEAD requests signed by botocore.

botocore is an independent SigV4 implementation (the one under the AWS CLI and boto3). For each
case, a real botocore S3 client builds the request from (bucket, key, query) -- so the URL
encoding of hostile keys is botocore's, not ours -- and signs it with S3SigV4Auth at a fixed
time. The request is captured just before it would be sent (the `before-send` event returns a
canned response), so nothing touches the network. The C++ test
(tests/unit/s3/request_test.cc) asserts that yg::s3::build_object_request produces the same
path, query, canonical request and Authorization header byte for byte.

Usage: python3 scripts/gen_sigv4_vectors.py [output.json]
Needs: botocore (pip install botocore). The output is committed; rerun only to add cases.
"""

import datetime
import json
import pathlib
import sys
from urllib.parse import unquote, urlsplit

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+Token/With=Chars"
FIXED_NOW = datetime.datetime(2024, 3, 15, 8, 30, 45)  # naive UTC, as botocore uses it

# botocore's client parameter for each forwardable S3 query parameter.
QUERY_PARAM = {
    "versionId": "VersionId",
    "response-cache-control": "ResponseCacheControl",
    "response-content-disposition": "ResponseContentDisposition",
    "response-content-encoding": "ResponseContentEncoding",
    "response-content-language": "ResponseContentLanguage",
    "response-content-type": "ResponseContentType",
    "response-expires": "ResponseExpires",
}

MINIO = "http://127.0.0.1:9000"

HOSTILE_KEYS = [
    ("space", "my file.txt"),
    ("plus", "a+b.txt"),
    ("ampersand", "a&b.txt"),
    ("equals", "a=b.txt"),
    ("at", "user@example.com/avatar.png"),
    ("parens", "photo (1).jpg"),
    ("japanese", "日本語/ファイル.txt"),
    ("cafe", "café"),
    ("percent", "100%.txt"),
    ("percent-encoded-looking", "a%20b%2Fc"),
    ("tilde", "~user/file~1"),
    ("bang", "wow!.txt"),
    ("dollar", "price$5"),
    ("apostrophe", "it's.txt"),
    ("asterisk", "glob*.txt"),
    ("comma", "a,b,c"),
    ("semicolon", "a;b"),
    ("colon", "12:30:00.log"),
    ("nested-slashes", "a/b/c/d/e.txt"),
    ("double-slash", "a//b.txt"),
    ("slashless", "file.txt"),
    ("leading-slash", "/rooted.txt"),
    ("hash-question", "what?#.txt"),
    ("unreserved", "-._~AZaz09"),
    ("all-reserved", "!#$&'()*+,;=:@[]"),
]


def cases():
    out = []
    for name, key in HOSTILE_KEYS:
        for method in ("GET", "HEAD"):
            out.append(dict(name=f"minio-{method.lower()}-{name}", method=method,
                            endpoint=MINIO, region="us-east-1", bucket="test-bucket", key=key))
    for method in ("GET", "HEAD"):
        out.append(dict(name=f"aws-virtual-{method.lower()}", method=method, endpoint="",
                        region="eu-central-1", bucket="my-bucket", key="photos/2024/a b+c.jpg"))
        out.append(dict(name=f"minio-{method.lower()}-session-token", method=method,
                        endpoint=MINIO, region="us-east-1", bucket="test-bucket",
                        key="secret/report.pdf", session_token=SESSION_TOKEN))
    out += [
        dict(name="aws-virtual-get-japanese", method="GET", endpoint="", region="ap-northeast-1",
             bucket="my-bucket", key="日本語/ファイル.txt"),
        dict(name="aws-virtual-get-session-token", method="GET", endpoint="",
             region="eu-central-1", bucket="my-bucket", key="k.txt",
             session_token=SESSION_TOKEN),
        dict(name="aws-dotted-bucket-path-style", method="GET", endpoint="",
             region="eu-central-1", bucket="my.dotted.bucket", key="a b.txt"),
        dict(name="minio-get-version-id", method="GET", endpoint=MINIO, region="us-east-1",
             bucket="test-bucket", key="doc.txt",
             query=[["versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"]]),
        dict(name="minio-head-version-id", method="HEAD", endpoint=MINIO, region="us-east-1",
             bucket="test-bucket", key="doc.txt", query=[["versionId", "null"]]),
        dict(name="aws-virtual-get-version-id", method="GET", endpoint="", region="eu-central-1",
             bucket="my-bucket", key="a&b=c.txt", query=[["versionId", "v 1+2/3=="]]),
        dict(name="minio-get-response-overrides", method="GET", endpoint=MINIO,
             region="us-east-1", bucket="test-bucket", key="report.pdf",
             query=[["versionId", "v1"],
                    ["response-content-disposition", 'attachment; filename="r (1).pdf"'],
                    ["response-content-type", "application/pdf"],
                    ["response-cache-control", "no-cache"]]),
        dict(name="custom-base-path", method="GET", endpoint="http://127.0.0.1:9000/s3",
             region="us-east-1", bucket="test-bucket", key="a b.txt"),
        dict(name="custom-https-default-port", method="GET",
             endpoint="https://storage.example.com", region="auto", bucket="test-bucket",
             key="x.bin"),
        dict(name="custom-ipv6-literal", method="GET", endpoint="http://[::1]:9000",
             region="us-east-1", bucket="test-bucket", key="x.bin"),
    ]
    return out


class _EmptyBody:
    def stream(self, **_):
        return iter([])


def sign_case(case):
    captured = {}
    # Record what S3SigV4Auth computes; the originals still do all the work.
    orig_creq = botocore.auth.S3SigV4Auth.canonical_request
    orig_sts = botocore.auth.S3SigV4Auth.string_to_sign

    def creq(self, request):
        captured["canonical_request"] = orig_creq(self, request)
        return captured["canonical_request"]

    def sts(self, request, canonical_request):
        captured["string_to_sign"] = orig_sts(self, request, canonical_request)
        return captured["string_to_sign"]

    botocore.auth.S3SigV4Auth.canonical_request = creq
    botocore.auth.S3SigV4Auth.string_to_sign = sts
    try:
        kwargs = dict(
            region_name=case["region"],
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(
                signature_version="s3v4",
                # Keep botocore from adding x-amz-checksum-mode: we send no such header.
                response_checksum_validation="when_required",
                request_checksum_calculation="when_required",
                s3={"addressing_style": "path" if case["endpoint"] else "auto"},
                retries={"max_attempts": 1},
            ),
        )
        if case.get("session_token"):
            kwargs["aws_session_token"] = case["session_token"]
        if case["endpoint"]:
            kwargs["endpoint_url"] = case["endpoint"]
        client = botocore.session.get_session().create_client("s3", **kwargs)

        def before_send(request, **_):
            captured["url"] = request.url
            captured["headers"] = {k.lower(): v.decode() if isinstance(v, bytes) else v
                                   for k, v in request.headers.items()}
            return AWSResponse(request.url, 200, {}, _EmptyBody())

        client.meta.events.register("before-send.s3", before_send)
        params = dict(Bucket=case["bucket"], Key=case["key"])
        for name, value in case.get("query", []):
            params[QUERY_PARAM[name]] = value
        if case["method"] == "GET":
            client.get_object(**params)
        else:
            client.head_object(**params)
    finally:
        botocore.auth.S3SigV4Auth.canonical_request = orig_creq
        botocore.auth.S3SigV4Auth.string_to_sign = orig_sts

    creq_lines = captured["canonical_request"].split("\n")
    signed = creq_lines[-2].split(";")
    expected_signed = ["host", "x-amz-content-sha256", "x-amz-date"]
    if case.get("session_token"):
        expected_signed.append("x-amz-security-token")
    if signed != expected_signed:
        sys.exit(f"{case['name']}: botocore signed {signed}, the proxy signs {expected_signed}")
    host_line = next(line for line in creq_lines if line.startswith("host:"))
    url = urlsplit(captured["url"])
    target = url.path + (f"?{url.query}" if url.query else "")
    result = dict(case)
    result.setdefault("session_token", "")
    result.setdefault("query", [])
    result.update(
        url=captured["url"],
        target=target,
        decoded_path=unquote(url.path),
        host=host_line[len("host:"):],
        amz_date=captured["headers"]["x-amz-date"],
        canonical_request=captured["canonical_request"],
        string_to_sign=captured["string_to_sign"],
        authorization=captured["headers"]["authorization"],
    )
    return result


def main():
    out_path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                            pathlib.Path(__file__).resolve().parent.parent /
                            "tests/vectors/sigv4/botocore.json")
    botocore.auth.get_current_datetime = lambda: FIXED_NOW
    doc = {
        "generator": "scripts/gen_sigv4_vectors.py",
        "botocore_version": botocore.__version__,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "now_utc": FIXED_NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notes": "target is the path+query botocore sent; botocore orders the query in its "
                 "serializer's order, which S3 ignores (only the signed order matters), so the "
                 "test compares the query as a set and the path byte for byte.",
        "cases": [sign_case(c) for c in cases()],
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(doc['cases'])} cases to {out_path}")


if __name__ == "__main__":
    main()
