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


class DataDir:
    """The layout of one data dir: a path for each thing kept in it (nothing is created)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DataDir({str(self.root)!r})"

    spool = property(lambda self: self.root / "spool")
    store = property(lambda self: self.root / "store")
    ledger = property(lambda self: self.root / "ledger")
    exported = property(lambda self: self.root / "exported")
    jobs = property(lambda self: self.root / "jobs")
    cache = property(lambda self: self.root / "cache")
    s3_cache = property(lambda self: self.cache / "s3")
    tmp = property(lambda self: self.root / "tmp")
    histograms = property(lambda self: self.root / "histograms")
    tls = property(lambda self: self.root / "tls")
    logs = property(lambda self: self.root / "logs")
    node_file = property(lambda self: self.root / "node.json")
    admin_token = property(lambda self: self.root / "admin.token")
    admin_url = property(lambda self: self.root / "admin.url")
    server_lock = property(lambda self: self.root / "appliance.lock")
