"""./start-platform.sh --prod: HTTPS only, and only with a certificate a CA signed."""

import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.frontdoor.certificates import make_signed_certificate
from tests.frontdoor.support import assert_security_headers
from tests.support.platform import START_PLATFORM, local_platform, platform_env


def start_production(state_dir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(START_PLATFORM), "start", "--local", "--prod"],
        env=platform_env(state_dir, **settings),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_production_refuses_to_start_without_a_certificate(tmp_path: Path) -> None:
    started = start_production(tmp_path / "state")

    assert started.returncode != 0
    assert "needs a real certificate" in started.stderr
    assert not list((tmp_path / "state").glob("run/*.pid")), "nothing may have started"


def test_production_refuses_a_self_signed_certificate(tmp_path: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", tmp_path / "self.key", "-out", tmp_path / "self.crt"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    started = start_production(
        tmp_path / "state",
        CRUCIBLE_TLS_CERT=str(tmp_path / "self.crt"),
        CRUCIBLE_TLS_KEY=str(tmp_path / "self.key"),
    )

    assert started.returncode != 0
    assert "self-signed" in started.stderr
    assert not list((tmp_path / "state").glob("run/*.pid"))


@pytest.mark.timeout(600)
def test_production_serves_https_and_sends_plain_http_there(tmp_path: Path) -> None:
    signed = make_signed_certificate(tmp_path)
    with local_platform(
        tmp_path / "state",
        start_args=["--prod"],
        CRUCIBLE_TLS_CERT=str(signed.certificate),
        CRUCIBLE_TLS_KEY=str(signed.key),
    ) as platform:
        plain = platform.client.post("/api/evaluations?from=plain", json={"code": "print(1)"})
        platform.client.close()
        trusting = ssl.create_default_context(cafile=signed.authority)
        platform.client = httpx.Client(
            base_url=platform.tls_url, verify=trusting, timeout=30, auth=platform.client.auth
        )
        finished = platform.run(code="print('in production')")
        queue = platform.client.get("/api/queue")

    # 308: a client that follows it sends the same method and body again.
    assert plain.status_code == 308
    assert plain.headers["location"] == f"{platform.tls_url}/api/evaluations?from=plain"
    assert finished["stdout"] == "in production\n"
    assert_security_headers(queue, https=True)
