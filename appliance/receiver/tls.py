"""TLS for the public port: a self-signed certificate on first start, TLS 1.2+ only, and
only modern suites (`[receiver] tls_ciphers`: ECDHE with AEAD by default)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID
from twisted.internet.ssl import AcceptableCiphers, CertificateOptions, TLSVersion

from appliance.config.ciphers import MODERN_CIPHERS
from appliance.durable import write_atomic


class TLSConfigError(Exception):
    """Certificate or key files that cannot be used; the message names the file."""


def ensure_self_signed(tls_dir: Path, host_names: tuple[str, ...] = ("localhost",)
                       ) -> tuple[Path, Path, bool]:
    """Create a self-signed certificate and key in `tls_dir` unless present.

    Returns (cert path, key path, created).
    """
    cert_path, key_path = tls_dir / "cert.pem", tls_dir / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path, False
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appliance self-signed")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(h) for h in host_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_atomic(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path, True


def _load(cert_path: Path,
          key_path: Path) -> tuple[list[x509.Certificate], PrivateKeyTypes]:
    try:
        certs = x509.load_pem_x509_certificates(cert_path.read_bytes())
    except (OSError, ValueError) as e:
        raise TLSConfigError(f"cannot read certificate {cert_path}: {e}") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise TLSConfigError(f"cannot read private key {key_path}: {e}") from None
    if _public_bytes(certs[0].public_key()) != _public_bytes(key.public_key()):
        raise TLSConfigError(f"private key {key_path} does not match certificate {cert_path}")
    return certs, key


def _public_bytes(key: PublicKeyTypes) -> bytes:
    """A public key's encoding, for comparing keys of any type (Ed25519 keys have no
    `public_numbers`)."""
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(cert_path: Path) -> str:
    """The SHA-256 fingerprint of the (first) certificate, as AA:BB:... hex."""
    cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def server_options(cert_path: Path, key_path: Path,
                   ciphers: str = MODERN_CIPHERS) -> CertificateOptions:
    """Server TLS options: the certificate chain in `cert_path`, TLS 1.2 at least, the
    TLS 1.2 suites `ciphers` selects (an OpenSSL cipher string)."""
    certs, key = _load(cert_path, key_path)
    # Twisted's annotations name pyOpenSSL's PKey and X509; pyOpenSSL takes cryptography's
    # keys and certificates (and deprecates its own X509 there), which is what these are.
    return CertificateOptions(
        privateKey=key,  # type: ignore[arg-type]
        certificate=certs[0],  # type: ignore[arg-type]
        extraCertChain=certs[1:],  # type: ignore[arg-type]
        raiseMinimumTo=TLSVersion.TLSv1_2,
        acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(ciphers),
    )
