"""Histogram specs by revision: which buckets each histogram has (docs/conversion.md).

A classic Firefox ping names the source revision it was built from
(`info.revision`, e.g. "http://hg.mozilla.org/releases/mozilla-release/rev/
a55c55edf302"); that revision's Histograms.json says which buckets every
histogram has. `SpecStore.get(rev)` returns them, from the first of:

1. memory (an LRU of the last `max_revisions` revisions used);
2. `<spec_dir>/<rev>.Histograms.json` (raw definitions; buckets computed by
   appliance.convert.buckets) and/or `<spec_dir>/<rev>.buckets.json`
   (precomputed bounds: `{"histograms": {NAME: {"buckets": [...], ...}}}`).
   When both exist they are merged: the raw file's definitions win and the
   precomputed file adds the names the raw file lacks;
3. `<cache_dir>/<rev>.Histograms.json`, a copy fetched earlier from the server;
4. the histogram server, if `server_url` is set: `GET {server_url}/{rev}.Histograms.json`
   must answer 200 with the raw Histograms.json of that revision (a JSON object
   of definitions), or 404/410 if it does not know the revision. A good answer
   is written atomically into `cache_dir` (when set) and used from there on.

A revision found nowhere raises UnknownRevision; the miss is remembered for
`retry_after` seconds so that a stream of pings of one unknown revision does
not hit the disk and the server once per ping. A failure of the server itself
(no answer within `timeout`, an error status, a bad answer) is a *transient*
miss, and is remembered for the server as a whole: for `retry_after` seconds
no revision is fetched, so a server that is down costs one timeout, not one
per unseen revision. A definition whose buckets
cannot be computed (e.g. it names an unknown C++ constant) is left out of the
spec and listed in `RevisionSpec.skipped`.

`get` blocks (disk, network) and is meant for converter threads or processes,
never the reactor thread. It is thread-safe: concurrent calls for one revision
load it once.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from array import array
from collections import OrderedDict
from collections.abc import Callable, Mapping
from itertools import pairwise
from pathlib import Path

import orjson
from twisted.logger import Logger

from appliance import __version__
from appliance.convert.buckets import DEFAULT_CONSTANTS, DefinitionError, compute_buckets
from appliance.durable import write_atomic

try:
    from appliance.convert._rowsjson import RowTable
except ImportError:     # installed without a C compiler
    RowTable = None  # type: ignore[assignment,misc]

_loads = orjson.loads
_JSONError = (orjson.JSONDecodeError, UnicodeDecodeError)

log = Logger()

# The revision URL of a classic ping: http(s)://host/<repository path>/rev/<hash>
_REVISION_URL = re.compile(r"https?://[^/\s]+/(?:\S+/)?rev/([0-9a-fA-F]{12,40})/?")
_REVISION_HASH = re.compile(r"[0-9a-f]{12,40}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
STARTUP_PREFIX = "STARTUP_"
MAX_SPEC_BYTES = 32 << 20
_MAX_MISSES = 4096
_MAX_LAYOUTS = 20_000

Fetch = Callable[[str], "bytes | None"]


class BadRevision(ValueError):
    """`info.revision` (or a revision key) is not a revision URL (or hash)."""


class UnknownRevision(LookupError):
    """No spec is available for a revision.

    `transient` is True when the histogram server could not be asked (network
    error, timeout, 5xx, bad answer): the revision may well exist.
    """

    def __init__(self, revision: str, detail: str, transient: bool = False):
        super().__init__(f"unknown revision {revision}: {detail}")
        self.revision = revision
        self.detail = detail
        self.transient = transient


def revision_key(info_revision: str) -> str:
    """The (lower-case) hash at the end of a ping's `info.revision` URL; BadRevision if junk."""
    if not isinstance(info_revision, str):
        raise BadRevision(f"revision is not a string: {type(info_revision).__name__}")
    m = _REVISION_URL.fullmatch(info_revision)
    if m is None:
        raise BadRevision(f"not a revision URL: {info_revision[:200]!r}")
    return m.group(1).lower()


class BucketLayout:
    """The buckets of one histogram: lower bounds, and bound (as its decimal
    string, the form of the keys of a ping's `values`) -> position."""

    __slots__ = ("bounds", "index", "n")

    def __init__(self, bounds: list[int]):
        self.bounds = bounds
        self.n = len(bounds)
        self.index = {str(b): i for i, b in enumerate(bounds)}

    def position(self, key: str) -> int | None:
        """The position of a bucket key, including non-canonical integer forms
        ("05", "+5"); None if the key is not an integer or not a bucket."""
        i = self.index.get(key)
        if i is not None or not isinstance(key, str) or _INTEGER.fullmatch(key) is None:
            return i
        return self.index.get(str(int(key)))


class RevisionSpec(dict):
    """Histogram name -> bucket lower bounds (list[int]) of one revision.

    Treat it as read-only: it is shared by every caller. `layouts` holds the
    same buckets with their key -> position maps; `skipped` the definitions
    that could not be used (name -> why); `sources` the files it came from.
    `row_table` is what the compiled converter looks up (convert/rowsjson.py):
    every name `layout` knows, `STARTUP_` names included, -> (index, n, packed
    bounds or None; see `_packed_bounds`); `text_table` the same compiled for
    the text path (convert/textpath.py), None without the extension.
    """

    def __init__(self, revision: str, layouts: dict[str, BucketLayout],
                 skipped: dict[str, str], sources: tuple[str, ...]):
        super().__init__((name, layout.bounds) for name, layout in layouts.items())
        self.revision = revision
        self.layouts = layouts
        self.skipped = skipped
        self.sources = sources
        self.row_table = _row_table(layouts)
        self.text_table = None if RowTable is None else RowTable(self.row_table)

    def layout(self, name: str) -> BucketLayout | None:
        """The layout of a ping's histogram `name` (`STARTUP_X` uses `X`'s); None if unknown."""
        layout = self.layouts.get(name)
        if layout is None and name.startswith(STARTUP_PREFIX):
            layout = self.layouts.get(name[len(STARTUP_PREFIX):])
        return layout


def _row_table(layouts: dict[str, BucketLayout]) -> dict[str, tuple]:
    """RevisionSpec.row_table: one lookup answers what `RevisionSpec.layout` would."""
    entries = {id(layout): (layout.index, layout.n, _packed_bounds(layout.bounds))
               for layout in layouts.values()}
    table = {STARTUP_PREFIX + name: entries[id(layout)] for name, layout in layouts.items()}
    table.update((name, entries[id(layout)]) for name, layout in layouts.items())
    return table


def _packed_bounds(bounds: list[int]) -> bytes | None:
    """The bounds as native 64-bit integers, which the compiled converter searches
    instead of hashing each key; None unless ascending (ties allowed) and 64-bit."""
    if any(b < a for a, b in pairwise(bounds)):
        return None
    try:
        return array("q", bounds).tobytes()
    except OverflowError:
        return None


def default_fetch(timeout: float, max_bytes: int = MAX_SPEC_BYTES) -> Fetch:
    """A fetch(url) for the histogram server: the body of a 200, None for 404/410,
    and an exception for anything else (timeouts, other statuses, too large)."""

    def fetch(url: str) -> bytes | None:
        request = urllib.request.Request(url, headers={
            "User-Agent": f"telemetry-appliance/{__version__}",
            "Accept": "application/json",
        })
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read(max_bytes + 1)
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):
                return None
            raise
        if len(body) > max_bytes:
            raise ValueError(f"answer is larger than {max_bytes} bytes")
        return body

    return fetch


class SpecStore:
    """Histogram specs by revision hash; see the module docstring."""

    def __init__(self, spec_dir: Path | None, server_url: str | None = None,
                 cache_dir: Path | None = None, fetch: Fetch | None = None, *,
                 max_revisions: int = 64, timeout: float = 2.0, retry_after: float = 60.0,
                 constants: Mapping[str, int] = DEFAULT_CONSTANTS,
                 clock: Callable[[], float] = time.monotonic):
        if server_url is not None:
            if not re.match(r"https?://", server_url):
                raise ValueError(f"histogram server URL must be http(s)://: {server_url!r}")
            server_url = server_url.rstrip("/")
        if max_revisions < 1:
            raise ValueError("max_revisions must be at least 1")
        self.spec_dir = Path(spec_dir) if spec_dir is not None else None
        self.server_url = server_url
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._fetch = fetch if fetch is not None else default_fetch(timeout)
        self.max_revisions = max_revisions
        self.retry_after = retry_after
        self._constants = constants
        self._clock = clock
        self._lock = threading.Lock()
        self._specs: OrderedDict[str, RevisionSpec] = OrderedDict()
        self._misses: dict[str, tuple[float, UnknownRevision]] = {}
        self._server_down: tuple[float, str] | None = None  # (until, why) after a failure
        self._loading: dict[str, threading.Lock] = {}
        # Many histograms (in one revision and across revisions) share a
        # layout; sharing the objects keeps 64 revisions in a few MB.
        self._layouts: dict[tuple[int, ...], BucketLayout] = {}
        self.loads = 0       # revisions loaded from disk or the server
        self.fetches = 0     # requests made to the histogram server

    # -- public -------------------------------------------------------------

    def get(self, revision: str) -> RevisionSpec:
        """The spec of `revision` (a lower-case hex hash): UnknownRevision if there
        is none, BadRevision if `revision` is not a hash."""
        if not isinstance(revision, str):
            raise BadRevision(f"not a revision hash: {type(revision).__name__}")
        with self._lock:
            spec = self._specs.get(revision)
            if spec is not None:
                self._specs.move_to_end(revision)
                return spec
        if _REVISION_HASH.fullmatch(revision) is None:
            raise BadRevision(f"not a revision hash: {revision[:80]!r}")
        with self._lock:
            loading = self._loading.setdefault(revision, threading.Lock())
        try:
            with loading:
                return self._get_locked(revision)
        finally:
            with self._lock:
                if self._loading.get(revision) is loading:
                    del self._loading[revision]

    def _get_locked(self, revision: str) -> RevisionSpec:
        """get() for a valid hash, holding that revision's loading lock."""
        with self._lock:
            spec = self._specs.get(revision)
            if spec is not None:
                return spec
            miss = self._misses.get(revision)
            if miss is not None:
                if self._clock() < miss[0]:
                    e = miss[1]
                    raise UnknownRevision(e.revision, e.detail, e.transient)
                del self._misses[revision]
        try:
            spec = self._load(revision)
        except UnknownRevision as e:
            with self._lock:
                self._remember_miss(revision, e)
            raise
        with self._lock:
            self._specs[revision] = spec
            while len(self._specs) > self.max_revisions:
                self._specs.popitem(last=False)
            self.loads += 1
        return spec

    def cached_revisions(self) -> list[str]:
        """The revisions held in memory, least recently used first."""
        with self._lock:
            return list(self._specs)

    def forget(self, revision: str | None = None) -> None:
        """Drop one revision (or all) from memory, with any remembered miss."""
        with self._lock:
            if revision is None:
                self._specs.clear()
                self._misses.clear()
            else:
                self._specs.pop(revision, None)
                self._misses.pop(revision, None)

    # -- loading ------------------------------------------------------------

    def _load(self, rev: str) -> RevisionSpec:
        raw_name, pre_name = f"{rev}.Histograms.json", f"{rev}.buckets.json"
        raw = pre = None
        sources: list[str] = []
        if self.spec_dir is not None:
            raw = self._read_local(self.spec_dir / raw_name, rev)
            pre = self._read_local(self.spec_dir / pre_name, rev)
            sources += [str(self.spec_dir / n) for n, d in ((raw_name, raw), (pre_name, pre)) if d]
        if raw is None and pre is None and self.cache_dir is not None:
            path = self.cache_dir / raw_name
            try:
                raw = self._parse_definitions(path.read_bytes(), rev)
                sources.append(str(path))
            except FileNotFoundError:
                pass
            except (OSError, UnknownRevision) as e:
                log.warn("ignoring unreadable cached spec {path}: {error}", path=str(path), error=e)
        if raw is None and pre is None and self.server_url is not None:
            raw = self._fetch_from_server(rev)
            sources.append(f"{self.server_url}/{raw_name}")
        if raw is None and pre is None:
            where = "no spec file" + (" and not on the histogram server"
                                      if self.server_url is not None else "")
            raise UnknownRevision(rev, where)
        return self._build(rev, raw or {}, pre or {}, tuple(sources))

    def _read_local(self, path: Path, rev: str):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise UnknownRevision(rev, f"cannot read {path}: {e}") from e
        if path.name.endswith(".buckets.json"):
            return self._parse_precomputed(data, rev, path)
        return self._parse_definitions(data, rev, path)

    def _parse_definitions(self, data: bytes, rev: str, path: Path | None = None) -> dict:
        try:
            obj = _loads(data)
        except _JSONError as e:
            raise UnknownRevision(rev, f"{path or 'answer'} is not JSON: {e}") from e
        if not isinstance(obj, dict):
            raise UnknownRevision(rev, f"{path or 'answer'} is not a JSON object of definitions")
        return obj

    def _parse_precomputed(self, data: bytes, rev: str, path: Path) -> dict:
        try:
            obj = _loads(data)
        except _JSONError as e:
            raise UnknownRevision(rev, f"{path} is not JSON: {e}") from e
        hists = obj.get("histograms") if isinstance(obj, dict) else None
        if not isinstance(hists, dict):
            raise UnknownRevision(rev, f'{path} has no "histograms" object')
        return hists

    def _fetch_from_server(self, rev: str) -> dict:
        url = f"{self.server_url}/{rev}.Histograms.json"
        with self._lock:
            down = self._server_down
            if down is not None and self._clock() < down[0]:
                raise UnknownRevision(rev, f"histogram server not asked: it failed less than "
                                      f"{self.retry_after:g} s ago ({down[1]})", transient=True)
            self.fetches += 1
        try:
            body = self._fetch(url)
        except Exception as e:  # noqa: BLE001 - any failure of the server is transient
            raise self._server_failed(rev, f"{type(e).__name__}: {e}") from e
        if body is None:
            self._server_down = None
            raise UnknownRevision(rev, "not on the histogram server")
        try:
            definitions = self._parse_definitions(body, rev)
        except UnknownRevision as e:
            raise self._server_failed(rev, e.detail) from e
        self._server_down = None
        if self.cache_dir is not None:
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                write_atomic(self.cache_dir / f"{rev}.Histograms.json", body)
            except OSError as e:
                log.warn("cannot cache the spec of {rev} in {dir}: {error}",
                         rev=rev, dir=str(self.cache_dir), error=e)
        return definitions

    def _server_failed(self, rev: str, why: str) -> UnknownRevision:
        """Remember that the server failed (see the module docstring); the error to raise."""
        with self._lock:
            self._server_down = (self._clock() + self.retry_after, why[:200])
        return UnknownRevision(rev, f"histogram server failed: {why}", transient=True)

    def _build(self, rev: str, raw: dict, pre: dict, sources: tuple[str, ...]) -> RevisionSpec:
        layouts: dict[str, BucketLayout] = {}
        skipped: dict[str, str] = {}
        for name, definition in raw.items():
            try:
                bounds = compute_buckets(definition, self._constants)
            except DefinitionError as e:
                skipped[name] = str(e)
                continue
            layouts[name] = self._shared_layout(bounds)
        for name, entry in pre.items():
            if name in layouts:
                continue
            listed = entry.get("buckets") if isinstance(entry, dict) else None
            if (not isinstance(listed, list) or not listed
                    or not all(type(b) is int for b in listed)):
                skipped.setdefault(name, "precomputed entry has no list of integer buckets")
                continue
            skipped.pop(name, None)
            layouts[name] = self._shared_layout(listed)
        if skipped:
            log.info("spec {rev}: {n} definitions skipped ({names})", rev=rev, n=len(skipped),
                     names=", ".join(sorted(skipped)[:10]))
        return RevisionSpec(rev, layouts, skipped, sources)

    def _shared_layout(self, bounds: list[int]) -> BucketLayout:
        key = tuple(bounds)
        with self._lock:
            layout = self._layouts.get(key)
            if layout is None:
                if len(self._layouts) >= _MAX_LAYOUTS:
                    self._layouts.clear()
                layout = self._layouts[key] = BucketLayout(list(bounds))
            return layout

    def _remember_miss(self, rev: str, error: UnknownRevision) -> None:
        if self.retry_after <= 0:
            return
        now = self._clock()
        if len(self._misses) >= _MAX_MISSES:
            for key in [k for k, (deadline, _) in self._misses.items() if deadline <= now]:
                del self._misses[key]
            while len(self._misses) >= _MAX_MISSES:
                del self._misses[next(iter(self._misses))]
        self._misses[rev] = (now + self.retry_after, error)
