"""Certificates made with openssl for the tests: a CA of their own and a server
certificate it signs, as a production deployment would be given one."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

NEW_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class SignedCertificate:
    authority: Path
    certificate: Path
    key: Path


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_signed_certificate(directory: Path) -> SignedCertificate:
    ca = directory / "ca.crt"
    ca_key = directory / "ca.key"
    openssl("req", "-x509", *NEW_EC_KEY, "-days", "2", "-subj", "/CN=Crucible test CA",
            "-keyout", ca_key, "-out", ca)  # fmt: skip
    key = directory / "server.key"
    request = directory / "server.csr"
    openssl("req", *NEW_EC_KEY, "-subj", "/CN=localhost", "-keyout", key, "-out", request)
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    certificate = directory / "server.crt"
    openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "2", "-extfile", extensions, "-out", certificate)  # fmt: skip
    return SignedCertificate(authority=ca, certificate=certificate, key=key)
