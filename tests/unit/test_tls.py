"""The public port's TLS material and options."""

import stat

import pytest
from OpenSSL import SSL

from appliance.receiver.tls import (
    TLSConfigError,
    ensure_self_signed,
    fingerprint,
    server_options,
)


def test_self_signed_certificate_is_made_once_with_a_private_key(tmp_path):
    cert, key, created = ensure_self_signed(tmp_path / "tls")
    assert created
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = fingerprint(cert)
    assert len(first.split(":")) == 32
    again_cert, _key, created_again = ensure_self_signed(tmp_path / "tls")
    assert not created_again and fingerprint(again_cert) == first


def test_server_options_refuse_tls_below_1_2(tmp_path):
    cert, key, _ = ensure_self_signed(tmp_path)
    options = server_options(cert, key).getContext().set_options(0)
    assert options & SSL.OP_NO_SSLv3
    assert options & SSL.OP_NO_TLSv1
    assert options & SSL.OP_NO_TLSv1_1
    assert not options & SSL.OP_NO_TLSv1_2


def test_unusable_files_are_named_in_the_error(tmp_path):
    cert, key, _ = ensure_self_signed(tmp_path / "a")
    other_cert, other_key, _ = ensure_self_signed(tmp_path / "b")
    with pytest.raises(TLSConfigError, match="does not match"):
        server_options(cert, other_key)
    with pytest.raises(TLSConfigError, match="missing.pem"):
        server_options(tmp_path / "missing.pem", key)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(TLSConfigError, match="junk.pem"):
        server_options(cert, tmp_path / "junk.pem")


@pytest.mark.parametrize("value", ["NOPE-NOPE", "", "ECDHE+ÄES"])
def test_a_cipher_string_that_selects_nothing_is_a_config_error_naming_the_key(value):
    from appliance.config import ConfigError, load_config

    with pytest.raises(ConfigError) as e:
        load_config(env={"APPLIANCE_RECEIVER_TLS_CIPHERS": value})
    assert str(e.value).startswith(
        "[receiver] tls_ciphers (from env APPLIANCE_RECEIVER_TLS_CIPHERS): selects no TLS 1.2 "
        "cipher suite")


def test_the_default_suites_are_ecdhe_with_aead_only(tmp_path):
    from appliance.config import load_config

    cert, key, _ = ensure_self_signed(tmp_path)
    default = load_config(env={}).receiver.tls_ciphers
    context = server_options(cert, key, default).getContext()
    names = SSL.Connection(context, None).get_cipher_list()
    tls12 = [n for n in names if not n.startswith("TLS_")]
    assert tls12 and all(n.startswith("ECDHE-") for n in tls12)
    assert all("GCM" in n or "CHACHA20-POLY1305" in n for n in tls12)


def _ed25519_pair(folder):
    """An Ed25519 key and a self-signed certificate for it, as PEM files in `folder`."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    folder.mkdir()
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed25519 test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, None))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_an_ed25519_certificate_is_usable_and_checked_against_its_key(tmp_path):
    # Ed25519 keys have no public_numbers(): they used to fail the key check with AttributeError
    cert, key = _ed25519_pair(tmp_path / "a")
    _other_cert, other_key = _ed25519_pair(tmp_path / "b")
    assert server_options(cert, key).getContext() is not None
    with pytest.raises(TLSConfigError, match="does not match"):
        server_options(cert, other_key)
