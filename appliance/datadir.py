"""Every path under the data dir, named in one place.

    spool/          the durable spool (segment names: spool/segments.py)
    store/          the partitioned store (file names: storage/filenames.py);
                    store/invalid/ holds records that could not be converted
    ledger/         the reconciliation ledger (accepted.json, the exported journal)
    exported/       store files kept after export ([export] retain_days)
    jobs/<id>/      one MapReduce job each (its files: jobs/jobdir.py)
    cache/s3/       S3 objects fetched for jobs
    tmp/            job snapshots and spills
    histograms/     histogram specs, unless [converter] names another directory
    tls/            the self-signed certificate made on first start
    logs/           the server's log files
    node.json       this data dir's node id (node/identity.py)
    admin.token     the admin API token, unless [admin] token_file names another
    admin.url       the admin API address a running server wrote
    appliance.lock  held by the server using the data dir; holds its pid
"""

from __future__ import annotations

import os
from pathlib import Path


class _Under:
    """A path under the data dir, as a read-only attribute of DataDir (typed: a Path)."""

    def __init__(self, *parts: str):
        self.parts = parts

    def __get__(self, data_dir: DataDir, owner: type[DataDir]) -> Path:
        return data_dir.root.joinpath(*self.parts)


class DataDir:
    """The layout of one data dir: a path for each thing kept in it (nothing is created)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DataDir({str(self.root)!r})"

    spool = _Under("spool")
    store = _Under("store")
    ledger = _Under("ledger")
    exported = _Under("exported")
    jobs = _Under("jobs")
    cache = _Under("cache")
    s3_cache = _Under("cache", "s3")
    tmp = _Under("tmp")
    histograms = _Under("histograms")
    tls = _Under("tls")
    logs = _Under("logs")
    node_file = _Under("node.json")
    admin_token = _Under("admin.token")
    admin_url = _Under("admin.url")
    server_lock = _Under("appliance.lock")
