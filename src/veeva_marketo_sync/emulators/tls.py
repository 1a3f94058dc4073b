"""A self-signed certificate for emulators that must speak HTTPS on loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"


@dataclass(frozen=True)
class CertPaths:
    """Where the certificate (also the CA file clients trust) and its key live."""

    cert_file: Path
    key_file: Path


def ensure_self_signed_cert(state_dir: Path, *, days: int = 825) -> CertPaths:
    """Return the cert under ``state_dir``, creating one for 127.0.0.1/localhost when absent.

    Clients trust it by pointing their CA setting at ``cert_file``
    (``requests.Session().verify = str(cert_file)``).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(state_dir / CERT_FILE, state_dir / KEY_FILE)
    if paths.cert_file.exists() and paths.key_file.exists() and _still_valid(paths.cert_file):
        return paths
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.key_file.chmod(0o600)
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


def _still_valid(cert_file: Path) -> bool:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
