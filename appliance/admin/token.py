"""The admin API's bearer token: created once with mode 0600, compared in constant time."""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from twisted.logger import Logger

from appliance.durable import fsync_dir

log = Logger()


def ensure_token(path: Path) -> str:
    """The token in `path`, creating the file (mode 0600, 32 random bytes) if missing.

    A file readable by group or others is tightened to 0600 with a warning; the
    token itself is never logged.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return _read_existing(path)
    token = secrets.token_urlsafe(32)
    try:
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    log.info("created the admin token {path} (mode 0600)", path=str(path))
    return token


def _read_existing(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warn("admin token file {path} was mode {mode:o}; setting 0600",
                 path=str(path), mode=mode)
        os.chmod(path, 0o600)
    token = path.read_text().strip()
    if not token:
        raise ValueError(f"admin token file {path} is empty; delete it to make a new one")
    return token


def bearer_matches(header: bytes | None, token: str) -> bool:
    """True if an Authorization header value is `Bearer <token>` (constant-time compare)."""
    if not header:
        return False
    scheme, _, value = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(value.strip(), token.encode())
