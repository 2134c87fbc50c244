"""Records with what 2013 jobs read, and the answers of the jobs in tests/data/jobs2013
computed here independently (from the records, not by running anything)."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import zstandard

JOBS = Path(__file__).resolve().parent / "data" / "jobs2013"
LIB = JOBS / "lib2013"
CHANNELS = ["release", "beta", "nightly"]
DATES = ["20131001", "20131002"]


def extras(i: int) -> dict:
    """The 2013 sections of record `i` (some records lack each of them)."""
    rng = random.Random(i)
    out: dict = {"info": {"OS": rng.choice(["WINNT", "Linux", "Darwin"])},
                 "simpleMeasurements": {"uptime": rng.randrange(1000)}}
    if rng.random() < 0.7:
        out["info"]["flashVersion"] = rng.choice(["11.8.800.94", "11.9.900.117"])
    if rng.random() < 0.4:
        out["info"]["activeExperiment"] = rng.choice(["exp-a@mozilla", "exp-b@mozilla"])
        if rng.random() < 0.8:
            out["info"]["activeExperimentBranch"] = rng.choice(["control", "test"])
    if rng.random() < 0.5:
        out["slowSQL"] = {thread: {sql: [rng.randrange(1, 5), rng.randrange(100, 900)]
                                   for sql in rng.sample(["SELECT a,\tb FROM t",
                                                          "UPDATE moz_places\nSET x",
                                                          "DELETE FROM c"], 2)}
                          for thread in ("mainThread", "otherThreads")}
    if rng.random() < 0.5:
        out["fileIOReports"] = {name: [rng.randrange(50)] + [rng.randrange(9)] * 5
                                for name in rng.sample(["C:\\prefs,js", "places.sqlite",
                                                        "cookies.sqlite"], 2)}
    if rng.random() < 0.5:
        stacks = [rng.sample(["js::RunScript", "nsThread::Run", "PR_Wait"], rng.randrange(3))
                  for _ in range(rng.randrange(1, 4))]
        out["chromeHangs"] = {"stacks": stacks,
                              "durations": [rng.randrange(1, 60) for _ in stacks]}
    if rng.random() < 0.6:
        out["addonDetails"] = {"XPI": {a: ({"scan_MS": rng.randrange(500)}
                                           if rng.random() < 0.8 else {})
                                       for a in rng.sample(["adb@x", "ghostery@x",
                                                            "{abp}"], 2)}}
    if rng.random() < 0.3:
        out["loopFailure"] = {"type": rng.choice(["ice", "media", ""])}
    return out


def fxos(i: int) -> dict:
    rng = random.Random(-i)
    return {"ver": 3, "deviceinfo": {"product_model": rng.choice(["ZTE Open", "Alcatel"])},
            "icc": {"spn": rng.choice(["Movistar", "Telenor", "Movistar, Peru"])}}


def write_store(root: Path, n: int) -> list[tuple[list[str], dict]]:
    """A store of `n` Firefox records and n//4 FirefoxOS ones; (dims, record) of each."""
    rows = []
    for i in range(n):
        dims = ["saved-session", "Firefox", CHANNELS[i % 3], "23.0", "20130814063812",
                DATES[i % 2]]
        rows.append((dims, {"ver": 2, **extras(i)}))
    for i in range(n // 4):
        rows.append((["saved-session", "FirefoxOS", "release", "1.1", "20131002004003",
                      DATES[i % 2]], fxos(i)))
    files: dict[tuple, list[str]] = defaultdict(list)
    for k, (dims, rec) in enumerate(rows):
        files[tuple(dims)].append(f"doc-{k:05d}\t{json.dumps(rec)}\n")
    for dims, lines in files.items():
        folder = root.joinpath("telemetry", *dims)
        folder.mkdir(parents=True)
        data = zstandard.ZstdCompressor().compress("".join(lines).encode())
        (folder / f"node1.0001.0000.{len(lines)}.zst").write_bytes(data)
    return rows


def _median(values):
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def expected(job: str, rows) -> dict[str, str]:
    """What `job` outputs over `rows`: key -> value text."""
    firefox = [(d, r) for d, r in rows if d[1] == "Firefox"]
    out: dict = {}
    if job == "simple_counter":
        out = {"ALL": len(rows)} | Counter("date:" + d[-1] for d, _ in rows)
    elif job == "os_distribution":
        groups = defaultdict(list)
        for d, r in rows:
            if "simpleMeasurements" in r:
                groups[f"{r['info'].get('OS', 'UNKNOWN')}/{d[2]}"].append(
                    r["simpleMeasurements"]["uptime"])
        out = {k: f"count={len(v)} uptime={sum(v)}" for k, v in groups.items()}
    elif job == "slowsql":
        sums = defaultdict(lambda: [0, 0])
        for _, r in firefox:
            for thread, queries in r.get("slowSQL", {}).items():
                for sql, (count, total) in queries.items():
                    s = sums[f"{thread},{' '.join(sql.replace(',', ' ').splitlines())}"
                             .replace("\t", " ")]
                    s[0] += count
                    s[1] += total
        out = {k: f"{c},{t}" for k, (c, t) in sums.items()}
    elif job == "mainthreadio":
        totals = defaultdict(list)
        for _, r in rows:
            for name, counts in r.get("fileIOReports", {}).items():
                totals[name.lower().replace(",", "")].append(counts[0])
        out = {k: f"{len(v)},{_median(v)}" for k, v in totals.items()}
    elif job == "chromehangs":
        hangs = defaultdict(list)
        for _, r in firefox:
            h = r.get("chromeHangs")
            for stack, ms in zip(h["stacks"], h["durations"], strict=True) if h else ():
                hangs[stack[0] if stack else "(empty)"].append(ms)
        out = {k: f"{len(v)},{max(v)}" for k, v in hangs.items()}
    elif job == "addon_perf":
        scans = defaultdict(list)
        for _, r in rows:
            for a, data in r.get("addonDetails", {}).get("XPI", {}).items():
                if "scan_MS" in data:
                    scans[a].append(data["scan_MS"])
        out = {k: f"{len(v)}\t{max(v)}" for k, v in scans.items()}
    elif job == "flash_versions":
        out = Counter(str(r.get("info", {}).get("flashVersion")) for _, r in rows)
    elif job == "experiments":
        out = Counter(f"{r['info']['activeExperiment']}/"
                      f"{r['info'].get('activeExperimentBranch', 'none')}"
                      for _, r in rows if "activeExperiment" in r.get("info", {}))
    elif job == "fxos":
        out = Counter(_csv(r["deviceinfo"]["product_model"], r["icc"]["spn"])
                      for d, r in rows if d[1] == "FirefoxOS")
    elif job == "loop_failures":
        out = Counter(f"{r['loopFailure']['type']},{d[2]}" for d, r in rows
                      if r.get("loopFailure", {}).get("type"))
    return {k: str(v) for k, v in out.items()}


def _csv(*fields: str) -> str:
    return ",".join(f'"{f}"' if "," in f else f for f in fields)


def parse_output(text: str) -> dict[str, str]:
    """key -> value of a job's output lines (the value may hold tabs)."""
    return dict(line.split("\t", 1) for line in text.splitlines())
