"""Site directories for job scripts' libraries: `[jobs] python_path` and `--python-path`.

The directories are added with `site.addsitedir` (so their `.pth` files
count, as in a virtualenv's site-packages) before the job is loaded; mapper
and reducer processes inherit `sys.path` from the process that starts them.
The frozen binary ignores PYTHONPATH on its own, so the binary reads it here:
a job sees the same libraries from the binary as from a source install.
"""

from __future__ import annotations

import os
import site
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from appliance.config import Config
from appliance.mr.job import JobError


def python_path(config: Config, extra: Iterable[str | Path] = (),
                env: Mapping[str, str] | None = None) -> list[Path]:
    """The directories a job's libraries come from: `[jobs] python_path` (separated by
    ':' like PYTHONPATH), then `extra`, then PYTHONPATH when frozen; `JobError` for one
    that is not a directory."""
    env = os.environ if env is None else env
    dirs = [d for d in config.jobs.python_path.split(os.pathsep) if d]
    dirs += [str(d) for d in extra]
    if getattr(sys, "frozen", False):
        dirs += [d for d in env.get("PYTHONPATH", "").split(os.pathsep) if d]
    out: list[Path] = []
    for d in dirs:
        path = Path(d).expanduser().resolve()
        if not path.is_dir():
            raise JobError(f"python path {d}: not a directory ([jobs] python_path, "
                           f"--python-path)")
        if path not in out:
            out.append(path)
    return out


def add_site_dirs(dirs: Iterable[Path]) -> None:
    """Put `dirs` on this process's `sys.path` (with their .pth files), once each."""
    for d in dirs:
        if str(d) not in sys.path:
            site.addsitedir(str(d))
