"""Start moto's S3 server on 127.0.0.1 for tests, the demo and load runs.

Two modes (see docs/testing.md, DESIGN.md §5):

* auth=True: started with INITIAL_NO_AUTH_ACTION_COUNT=4. The first four calls create an
  IAM user, its access key and an allow-all policy attached to it; from then on every call
  must be SigV4-signed with that key (wrong secret -> 403 SignatureDoesNotMatch, unsigned
  -> 403). `start()` checks that an unsigned request really is refused.
* auth=False: no signature checking at all. Used only for keys moto's own verifier gets
  wrong (`+`, `&`, `=`, non-ASCII...): it rejects correct signatures for them.

CLI (used by scripts/demo.sh):
    python yg_moto.py start --auth --workdir DIR --env-file FILE [--seed demo]
starts moto detached, provisions it and writes shell assignments (YG_S3_ENDPOINT,
YG_S3_ACCESS_KEY, YG_S3_SECRET_KEY, YG_MOTO_PID) to FILE; the caller stops it by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yg_data  # noqa: E402
import yg_procs  # noqa: E402

REGION = "us-east-1"
IAM_USER = "yatagarasu-proxy"
# Calls that may run before signature checking starts: CreateUser, CreateAccessKey,
# CreatePolicy, AttachUserPolicy.
NO_AUTH_ACTIONS = 4
NOAUTH_ACCESS_KEY = "AKIANOAUTHMOTOTEST00"
NOAUTH_SECRET_KEY = "noauth-moto-secret-not-checked"


def _clean_env() -> dict:
    env = os.environ.copy()
    for k in list(env):
        if k.startswith(("AWS_", "MOTO_")) or k == "INITIAL_NO_AUTH_ACTION_COUNT":
            del env[k]
    return env


class MotoServer:
    def __init__(self, workdir: Path, auth: bool = True, name: Optional[str] = None):
        self.workdir = Path(workdir)
        self.auth = auth
        self.name = name or ("moto-auth" if auth else "moto-noauth")
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.access_key = ""
        self.secret_key = ""
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://{yg_procs.LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0, die_with_parent: bool = True) -> "MotoServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = yg_procs.free_port()
        env = _clean_env()
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_ACTIONS)
        cmd = [sys.executable, "-m", "moto.server", "-H", yg_procs.LOOPBACK, "-p", str(self.port)]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.workdir, env=env,
                                         start_new_session=True,
                                         preexec_fn=yg_procs.die_with_parent if die_with_parent
                                         else None)
        finally:
            log.close()
        try:
            yg_procs.wait_port(self.port, timeout=timeout, proc=self.proc, what=self.name,
                               log=self.log_path)
            if self.auth:
                self._provision()
                self._check_auth_is_on()
            else:
                self.access_key, self.secret_key = NOAUTH_ACCESS_KEY, NOAUTH_SECRET_KEY
        except BaseException:
            self.stop()
            raise
        return self

    def _provision(self) -> None:
        import boto3

        iam = boto3.client("iam", endpoint_url=self.url, region_name=REGION,
                           aws_access_key_id="AKIAPROVISION0000000",
                           aws_secret_access_key="provisioning-is-unsigned-anyway")
        iam.create_user(UserName=IAM_USER)
        key = iam.create_access_key(UserName=IAM_USER)["AccessKey"]
        policy = json.dumps({"Version": "2012-10-17",
                             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        arn = iam.create_policy(PolicyName="yatagarasu-all", PolicyDocument=policy)["Policy"]["Arn"]
        iam.attach_user_policy(UserName=IAM_USER, PolicyArn=arn)
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def _check_auth_is_on(self) -> None:
        # Once the free actions are used up, an unsigned request and one signed with a wrong
        # secret must both be refused; otherwise "wrong credentials -> 502" tests prove nothing.
        # (moto 5.2.1 answers an unsigned request with 403 only for an existing object; for
        # a missing bucket or key it fails with 500, KeyError 'HTTP_AUTHORIZATION'.)
        import botocore.exceptions

        probe = "yg-auth-probe"
        self.client().create_bucket(Bucket=probe)
        self.client().put_object(Bucket=probe, Key="probe.txt", Body=b"probe")
        try:
            with urllib.request.urlopen(f"{self.url}/{probe}/probe.txt", timeout=5) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        if status != 403:
            raise RuntimeError(f"moto at {self.url} answered an unsigned request with {status}, "
                               "not 403: signature checking is not on")
        try:
            self.client(secret_key="wrong" + self.secret_key).get_object(Bucket=probe,
                                                                       Key="probe.txt")
        except botocore.exceptions.ClientError as e:
            code = e.response["Error"]["Code"]
            if code != "SignatureDoesNotMatch":
                raise RuntimeError(f"moto refused a wrong secret with {code}, "
                                   "expected SignatureDoesNotMatch") from e
        else:
            raise RuntimeError(f"moto at {self.url} accepted a wrong secret")
        self.client().delete_object(Bucket=probe, Key="probe.txt")
        self.client().delete_bucket(Bucket=probe)

    def stop(self) -> None:
        if self.proc is not None:
            yg_procs.stop_pid(self.proc, timeout=10)
            self.proc = None

    # --- clients and seeding -------------------------------------------------------------

    def client(self, secret_key: Optional[str] = None, access_key: Optional[str] = None):
        import boto3
        from botocore.config import Config

        cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                     request_checksum_calculation="when_required",
                     response_checksum_validation="when_required",
                     connect_timeout=5, read_timeout=120)
        return boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key, config=cfg)

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def ensure_bucket(self, bucket: str, versioned: bool = False) -> None:
        """Creates `bucket` unless it exists already (test modules sharing one moto)."""
        import botocore.exceptions
        try:
            self.create_bucket(bucket)
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou",
                                                   "BucketAlreadyExists"):
                raise
        if versioned:
            self.client().put_bucket_versioning(Bucket=bucket,
                                                VersioningConfiguration={"Status": "Enabled"})

    def put(self, bucket: str, key: str, body: bytes, **extra) -> dict:
        return self.client().put_object(Bucket=bucket, Key=key, Body=body, **extra)

    def put_multipart(self, bucket: str, key: str, parts: Iterable[bytes], **extra) -> None:
        """Uploads parts one at a time, so memory stays at one part."""
        s3 = self.client()
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
        done = []
        try:
            for n, body in enumerate(parts, start=1):
                r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                   PartNumber=n, Body=body)
                done.append({"PartNumber": n, "ETag": r["ETag"]})
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                         MultipartUpload={"Parts": done})
        except BaseException:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            raise


DEMO_BUCKET = "demo-bucket"
DEMO_BIG_SIZE = 100 * yg_data.MiB
DEMO_BIG_SEED = 100


def seed_demo(moto: MotoServer) -> None:
    moto.create_bucket(DEMO_BUCKET)
    moto.put(DEMO_BUCKET, "hello.txt", b"Hello from Yatagarasu!\n", ContentType="text/plain")
    moto.put(DEMO_BUCKET, "images/gradient.png", yg_data.png(128, 96), ContentType="image/png")
    moto.put_multipart(DEMO_BUCKET, "big/100MiB.bin",
                       yg_data.parts(DEMO_BIG_SIZE, DEMO_BIG_SEED, 16 * yg_data.MiB),
                       ContentType="application/octet-stream")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="start moto detached and print/write its settings")
    st.add_argument("--auth", action="store_true", help="signature checking on")
    st.add_argument("--workdir", required=True, type=Path)
    st.add_argument("--env-file", required=True, type=Path)
    st.add_argument("--seed", choices=["demo"], default=None)
    args = ap.parse_args(argv)

    moto = MotoServer(args.workdir, auth=args.auth)
    moto.start(die_with_parent=False)  # outlives this script; demo.sh stops it by PID
    try:
        if args.seed == "demo":
            seed_demo(moto)
        values = {
            "YG_MOTO_PID": str(moto.pid),
            "YG_S3_ENDPOINT": moto.url,
            "YG_S3_ACCESS_KEY": moto.access_key,
            "YG_S3_SECRET_KEY": moto.secret_key,
            "YG_S3_BUCKET": DEMO_BUCKET,
            "YG_MOTO_LOG": str(moto.log_path),
        }
        tmp = args.env_file.with_suffix(".tmp")
        tmp.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
        os.chmod(tmp, 0o600)
        tmp.rename(args.env_file)
    except BaseException:
        moto.stop()
        raise
    moto.proc = None  # leave it running; the caller stops it by PID
    return 0


if __name__ == "__main__":
    sys.exit(main())
