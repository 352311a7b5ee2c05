"""nginx/: the one configuration of both modes, written by nginx/crucible-nginx.sh,
and the certificate it insists on. Real nginx and openssl, no platform."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from crucible_shared.limits import MAX_BATCH_REQUEST_BYTES, MAX_REQUEST_BYTES
from tests.frontdoor.certificates import make_signed_certificate
from tests.support.platform import REPO

NGINX = REPO / "nginx"
FRONT_DOOR = NGINX / "crucible-nginx.sh"


def front_door_env(directory: Path, **settings: str) -> dict[str, str]:
    """What start-platform.sh (or the image) gives the script: where everything is."""
    return {
        "PATH": os.environ["PATH"],
        "CRUCIBLE_NGINX_HTTP_LISTEN": "127.0.0.1:1",
        "CRUCIBLE_NGINX_HTTPS_LISTEN": "127.0.0.1:2",
        "CRUCIBLE_NGINX_API_UPSTREAM": "127.0.0.1:3",
        "CRUCIBLE_NGINX_FLOWER_UPSTREAM": "127.0.0.1:4",
        "CRUCIBLE_NGINX_WEB_ROOT": str(directory / "web"),
        "CRUCIBLE_NGINX_RUN_DIR": str(directory / "run"),
        "CRUCIBLE_NGINX_USER": "root root",
        "CRUCIBLE_NGINX_SELF_SIGNED_DIR": str(directory / "tls"),
        **settings,
    }


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FRONT_DOOR), *args], env=env, capture_output=True, text=True, timeout=60
    )


def certificate(env: dict[str, str]) -> tuple[str, str]:
    made = run("certificate", env=env)
    assert made.returncode == 0, made.stderr
    cert, key = made.stdout.split()
    return cert, key


def configure(env: dict[str, str], conf: Path) -> subprocess.CompletedProcess[str]:
    cert, key = certificate(env)
    return run(
        "configure",
        str(conf),
        env={**env, "CRUCIBLE_NGINX_TLS_CERT": cert, "CRUCIBLE_NGINX_TLS_KEY": key},
    )


def nginx_accepts(env: dict[str, str], conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nginx", "-t", "-e", "stderr", "-p", env["CRUCIBLE_NGINX_RUN_DIR"],
         "-c", str(conf / "nginx.conf")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_nginx_refuses_bodies_over_exactly_the_apis_limit() -> None:
    sizes = re.findall(r"client_max_body_size (\d+);", (NGINX / "nginx.conf").read_text())

    assert [int(size) for size in sizes] == [MAX_REQUEST_BYTES]


def test_nginx_takes_a_batch_up_to_exactly_the_apis_batch_limit() -> None:
    routes = (NGINX / "routes.conf").read_text()
    batches = routes[routes.index("location = /api/batches {") :]
    size = re.search(r"client_max_body_size (\d+);", batches[: batches.index("\n}")])

    assert size is not None and int(size.group(1)) == MAX_BATCH_REQUEST_BYTES


@pytest.mark.parametrize("production", [False, True])
def test_the_written_configuration_is_one_nginx_accepts(tmp_path: Path, production: bool) -> None:
    env = front_door_env(tmp_path)
    written = configure(env, tmp_path / "conf")
    if production:
        # Only the plain-HTTP server differs; a self-signed pair is enough for nginx -t.
        written = run("configure", str(tmp_path / "conf"), env={
            **env, "CRUCIBLE_TLS_REQUIRED": "1",
            "CRUCIBLE_NGINX_TLS_CERT": str(tmp_path / "tls" / "selfsigned.crt"),
            "CRUCIBLE_NGINX_TLS_KEY": str(tmp_path / "tls" / "selfsigned.key"),
        })  # fmt: skip

    assert written.returncode == 0, written.stderr
    config = "".join(path.read_text() for path in sorted((tmp_path / "conf").glob("*.conf")))
    assert not re.search(r"\$\{CRUCIBLE_[A-Z0-9_]+\}", config)
    plain_http = "redirect" if production else "serve"
    assert f"include http-{plain_http}.conf;" in (tmp_path / "conf" / "nginx.conf").read_text()
    assert "return 308 https://$host:8443$request_uri;" in config
    checked = nginx_accepts(env, tmp_path / "conf")
    assert checked.returncode == 0, checked.stderr


def test_the_default_limits_are_the_documented_ones(tmp_path: Path) -> None:
    configure(front_door_env(tmp_path), tmp_path / "conf")
    config = (tmp_path / "conf" / "nginx.conf").read_text() + (
        tmp_path / "conf" / "routes.conf"
    ).read_text()

    assert "zone=general:10m rate=30r/s" in config
    assert "zone=api:10m rate=10r/s" in config
    assert "zone=submissions:10m rate=2r/s" in config
    assert "limit_req zone=general burst=60 nodelay;" in config
    assert "limit_req zone=api burst=20 nodelay;" in config
    assert "limit_req zone=submissions burst=10 nodelay;" in config
    assert "limit_conn connections 50;" in config


def test_a_missing_setting_stops_the_writing_and_names_it(tmp_path: Path) -> None:
    env = front_door_env(tmp_path)
    del env["CRUCIBLE_NGINX_API_UPSTREAM"]

    written = configure(env, tmp_path / "conf")

    assert written.returncode != 0
    assert "CRUCIBLE_NGINX_API_UPSTREAM is not set" in written.stderr


@pytest.mark.parametrize("setting", [("CRUCIBLE_RATE_API", "ten"), ("CRUCIBLE_CONN_LIMIT", "-1")])
def test_a_malformed_limit_is_refused(tmp_path: Path, setting: tuple[str, str]) -> None:
    written = configure(front_door_env(tmp_path, **dict([setting])), tmp_path / "conf")

    assert written.returncode != 0
    assert setting[1] in written.stderr


def test_the_self_signed_certificate_is_made_once_and_kept(tmp_path: Path) -> None:
    env = front_door_env(tmp_path)

    cert, key = certificate(env)
    first = Path(cert).read_bytes()

    assert certificate(env) == (cert, key)
    assert Path(cert).read_bytes() == first
    assert Path(key).stat().st_mode & 0o777 == 0o600


def test_production_takes_a_certificate_a_ca_signed(tmp_path: Path) -> None:
    signed = make_signed_certificate(tmp_path)
    env = front_door_env(
        tmp_path,
        CRUCIBLE_TLS_REQUIRED="1",
        CRUCIBLE_TLS_CERT=str(signed.certificate),
        CRUCIBLE_TLS_KEY=str(signed.key),
    )

    assert certificate(env) == (str(signed.certificate), str(signed.key))


def test_a_key_that_does_not_belong_to_the_certificate_is_refused(tmp_path: Path) -> None:
    signed = make_signed_certificate(tmp_path)
    env = front_door_env(
        tmp_path,
        CRUCIBLE_TLS_CERT=str(signed.certificate),
        CRUCIBLE_TLS_KEY=str(tmp_path / "ca.key"),
    )

    refused = run("certificate", env=env)

    assert refused.returncode != 0
    assert "does not belong to the certificate" in refused.stderr


def test_production_without_a_certificate_is_refused(tmp_path: Path) -> None:
    refused = run("certificate", env=front_door_env(tmp_path, CRUCIBLE_TLS_REQUIRED="1"))

    assert refused.returncode != 0
    assert "needs a real certificate" in refused.stderr
    assert not (tmp_path / "tls").exists()
