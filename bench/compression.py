"""Compression of store data: zstd levels (and a trained dictionary) vs xz -0 and gzip -6.

The data is what the store holds: `<docId>\\t<converted JSON>\\n` lines of
generated pings run through the real converter. Every codec is measured in
the same rounds (A/B/A/B), 3 rounds, medians with min-max; the default level
is chosen from these numbers: the strongest zstd level that is both smaller
than xz -0 (the 2013 choice) and at least 10x faster to compress.

Run: `make bench` or `.venv/bin/python -m bench.compression [--pings N]`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import lzma
import tempfile
from pathlib import Path

import zstandard

from appliance.convert.records import RecordConverter
from appliance.convert.specs import SpecStore
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.storage.schema import Schema
from bench.common import interleaved, save, spread, timed
from bench.payloads import REVISION_HASH, PingGenerator

MB = 1e6


def store_lines(pings: int, seed: int) -> list[bytes]:
    """Store lines for `pings` generated pings, converted as the server would."""
    gen = PingGenerator(seed)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"{REVISION_HASH}.Histograms.json").write_text(json.dumps(gen.spec))
        converter = RecordConverter(SpecStore(Path(tmp)), Schema.telemetry_default(),
                                    max_decompressed_bytes=10 << 20)
        ids = RecordIds()
        lines = []
        for i in range(pings):
            record = SpoolRecord(ids.next(), 1_795_000_000 * 10**9, f"/submit/telemetry/d{i}",
                                 gen.gzip_bytes(i))
            result = converter.convert(record)
            assert result.invalid_reason is None, result.line[:200]
            lines.append(result.line)
    return lines


def codec_case(data: bytes, compress, decompress):
    def run() -> dict:
        c_time, packed = timed(lambda: compress(data))
        d_time, unpacked = timed(lambda: decompress(packed))
        assert unpacked == data
        return {"ratio": len(data) / len(packed), "compress_mbs": len(data) / MB / c_time,
                "decompress_mbs": len(data) / MB / d_time}
    return run


def dictionary_case(lines: list[bytes], train_lines: list[bytes]):
    """Each record compressed alone (zstd-3) with a dictionary trained on other pings."""
    trained = zstandard.train_dictionary(112 * 1024, train_lines)
    cctx = zstandard.ZstdCompressor(level=3, dict_data=trained)
    dctx = zstandard.ZstdDecompressor(dict_data=trained)
    total = sum(map(len, lines))

    def run() -> dict:
        c_time, packed = timed(lambda: [cctx.compress(line) for line in lines])
        d_time, unpacked = timed(lambda: [dctx.decompress(p) for p in packed])
        assert unpacked == lines
        return {"ratio": total / sum(map(len, packed)), "compress_mbs": total / MB / c_time,
                "decompress_mbs": total / MB / d_time}
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=300)
    args = parser.parse_args()
    lines = store_lines(args.pings, seed=1)
    data = b"".join(lines)
    cases = {}
    for level in (1, 3, 6, 9, 19):
        cctx, dctx = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()
        cases[f"zstd-{level}"] = codec_case(data, cctx.compress, dctx.decompress)
    cases["xz-0"] = codec_case(data, lambda d: lzma.compress(d, preset=0), lzma.decompress)
    cases["gzip-6"] = codec_case(data, lambda d: gzip.compress(d, 6), gzip.decompress)
    cases["zstd-3 per record + dict"] = dictionary_case(lines, store_lines(200, seed=2))
    results = interleaved(cases)
    table = {name: {k: spread([r[k] for r in runs]) for k in runs[0]}
             for name, runs in results.items()}
    xz = table["xz-0"]
    print(f"{len(data) / MB:.1f} MB of store lines from {args.pings} generated pings; "
          "medians of 3 interleaved rounds (min-max)")
    print(f"{'codec':26} {'ratio':>14} {'compress MB/s':>22} {'decompress MB/s':>22} "
          f"{'speed vs xz-0':>14}")
    for name, row in table.items():
        def cell(k, row=row):
            return f"{row[k]['median']:.1f} ({row[k]['min']:.1f}-{row[k]['max']:.1f})"
        faster = row["compress_mbs"]["median"] / xz["compress_mbs"]["median"]
        print(f"{name:26} {cell('ratio'):>14} {cell('compress_mbs'):>22} "
              f"{cell('decompress_mbs'):>22} {faster:>13.1f}x")
    eligible = [lvl for lvl in (1, 3, 6, 9, 19)
                if table[f"zstd-{lvl}"]["ratio"]["median"] > xz["ratio"]["median"]
                and table[f"zstd-{lvl}"]["compress_mbs"]["median"]
                >= 10 * xz["compress_mbs"]["median"]]
    choice = max(eligible) if eligible else None
    print(f"default: zstd level {choice} (strongest level smaller than xz -0 and >= 10x "
          "faster)" if choice else "no zstd level is both smaller than xz -0 and 10x faster")
    path = save("compression", {"megabytes": len(data) / MB, "pings": args.pings,
                                "table": table, "chosen_level": choice})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
