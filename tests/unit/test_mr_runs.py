"""Sorted runs on disk: the pre-merge that bounds the reducers' fan-in."""

from appliance.mr import runs
from appliance.mr.runs import premerge, read_groups, read_records, write_groups, write_records


def test_premerge_records_keeps_every_record_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "FAN_IN", 2)
    paths = []
    for i, recs in enumerate([[b"a", b"d"], [b"b", b"e"], [b"c"], [b"a", b"f"], [b"g"]]):
        paths.append(str(tmp_path / f"run{i}"))
        write_records(paths[-1], recs)

    merged = premerge(paths, tmp_path, "t", groups=False)

    assert len(merged) <= 2
    assert sorted(r for p in merged for r in read_records(p)) == [
        b"a", b"a", b"b", b"c", b"d", b"e", b"f", b"g"]
    for p in merged:  # each merged run is itself sorted
        assert list(read_records(p)) == sorted(read_records(p))
    assert not any((tmp_path / f"run{i}").exists() for i in range(5))  # inputs deleted


def test_premerge_groups_orders_by_canonical_key(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "FAN_IN", 2)
    # (canonical key, key, values): the keys themselves do not sort like their encodings
    chunks = [[(b"\x01", 9, [1]), (b"\x03", 7, [2])], [(b"\x02", 8, [3])],
              [(b"\x01", 9, [4])], [(b"\x04", 1, [5])]]
    paths = []
    for i, groups in enumerate(chunks):
        paths.append(str(tmp_path / f"run{i}"))
        write_groups(paths[-1], groups)

    merged = premerge(paths, tmp_path, "t", groups=True)

    assert len(merged) == 2
    for p in merged:
        got = list(read_groups(p))
        assert [g[0] for g in got] == sorted(g[0] for g in got)
    assert sorted(g for p in merged for g in read_groups(p)) == sorted(
        g for groups in chunks for g in groups)
