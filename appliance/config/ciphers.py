"""The public port's TLS 1.2 cipher suites: the default and the check of a configured list."""

from __future__ import annotations

# TLS 1.2 with forward secrecy (ECDHE) and AEAD only: no CBC, no SHA-1 MACs, no RSA key
# exchange. TLS 1.3's suites are all AEAD and are not set by this string.
MODERN_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def check_ciphers(spec: str) -> str | None:
    """What is wrong with an OpenSSL cipher string for TLS 1.2, or None if it selects suites."""
    # Imported here: every command loads the configuration, few need OpenSSL.
    from OpenSSL import SSL

    try:
        SSL.Context(SSL.TLS_METHOD).set_cipher_list(spec.encode("ascii"))
    except (SSL.Error, UnicodeEncodeError):
        return f"selects no TLS 1.2 cipher suite this OpenSSL knows (e.g. {MODERN_CIPHERS!r})"
    return None
