"""Amazon SES v2 played by moto in server mode, in a process of its own on 127.0.0.1, with request signing
enforced: a request whose SigV4 signature does not match its access key's secret gets AWS's own 403.

Set up through moto's IAM before enforcement starts: one user allowed `ses:*`, its access key, and a verified
sender identity. Every request after that must be signed with that key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import botocore.session
import httpx

from tests.conftest import free_port

REGION = "eu-west-1"
VERIFIED_SENDER = "alerts@herald.example"
CONFIGURATION_SET = "herald-events"
_ALLOW_SES = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}]})


class MotoSes:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.access_key_id = ""
        self.secret_access_key = ""
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """moto's own server (Werkzeug's), which closes the connection after every answer."""
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self) -> None:
        self._process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.base_url}/moto-api/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        self._set_up()

    def _set_up(self) -> None:
        session = botocore.session.get_session()
        bootstrap: dict[str, Any] = {"endpoint_url": self.base_url, "region_name": REGION,
                                     "aws_access_key_id": "AKIAIOSFODNN7BOOTSTRP",
                                     "aws_secret_access_key": "bootstrap"}
        # botocore's clients are built from service models at run time: their operations are untyped.
        iam: Any = session.create_client("iam", **bootstrap)
        iam.create_user(UserName="herald")
        iam.put_user_policy(UserName="herald", PolicyName="send", PolicyDocument=_ALLOW_SES)
        key = iam.create_access_key(UserName="herald")["AccessKey"]
        self.access_key_id, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        ses: Any = session.create_client("sesv2", **bootstrap)
        ses.create_email_identity(EmailIdentity=VERIFIED_SENDER)
        ses.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
        # From here on every request is authenticated: signature and access key checked against IAM.
        httpx.post(f"{self.base_url}/moto-api/reset-auth", content=b"0").raise_for_status()

    def sent(self) -> list[dict[str, Any]]:
        """What SES accepted: moto's record of each message (id, source, subject, body, destinations)."""
        data = httpx.get(f"{self.base_url}/moto-api/data.json").json()
        messages: list[dict[str, Any]] = data.get("ses", {}).get("Message", [])
        return messages

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
