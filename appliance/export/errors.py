"""Telling S3 failures apart: retry soon, or a setup problem the operator must fix."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

SETUP_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket",
    "InvalidBucketName", "AllAccessDisabled", "AccountProblem", "InvalidToken",
    "ExpiredToken", "403", "404",
}


class VerifyError(Exception):
    """S3 does not hold what was uploaded (size or checksum differ)."""


def error_kind(error: BaseException) -> str:
    """A short name for counting: the S3 error code, or the exception's class."""
    if isinstance(error, ClientError):
        code: str = error.response.get("Error", {}).get("Code", "ClientError")
        return code
    return type(error).__name__


def is_setup_problem(error: BaseException) -> bool:
    """Credentials, permissions or a missing bucket: retried slowly and shown loudly."""
    if isinstance(error, NoCredentialsError):
        return True
    return isinstance(error, ClientError) and error_kind(error) in SETUP_CODES


# A HEAD has no body, so S3 can only answer with a bare status.
_BARE_STATUS = {
    "403": "AccessDenied (HTTP 403 to a HEAD: wrong credentials or no permission)",
    "404": "NotFound (HTTP 404 to a HEAD: no such bucket?)",
}


def describe(error: BaseException) -> str:
    """One line for logs, stats and /status."""
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        code = err.get("Code", "?")
        if code in _BARE_STATUS:
            return _BARE_STATUS[code]
        return f"{code}: {err.get('Message', '') or error}"
    if isinstance(error, (EndpointConnectionError, BotoCoreError, VerifyError)):
        return str(error)
    return f"{type(error).__name__}: {error}"
