"""The receiver's cheap gzip checks."""

import gzip

import pytest

from appliance.submission.gzipcheck import GzipProblem, check_gzip


def test_valid_gzip_and_plain_bodies_pass():
    check_gzip(gzip.compress(b"{}" * 100), declared=True, max_decompressed=1000)
    check_gzip(b'{"plain": true}', declared=False, max_decompressed=10)


def test_declared_gzip_that_is_not_gzip_is_a_400():
    with pytest.raises(GzipProblem) as e:
        check_gzip(b"{}", declared=True, max_decompressed=1000)
    assert e.value.status == 400


def test_truncated_gzip_is_a_400():
    with pytest.raises(GzipProblem) as e:
        check_gzip(gzip.compress(b"x")[:12], declared=False, max_decompressed=1000)
    assert e.value.status == 400


def test_decompression_bomb_is_a_413_from_the_trailer_alone():
    bomb = gzip.compress(b"\0" * 2_000_000)
    assert len(bomb) < 5000
    with pytest.raises(GzipProblem) as e:
        check_gzip(bomb, declared=False, max_decompressed=1_000_000)
    assert e.value.status == 413
    check_gzip(bomb, declared=False, max_decompressed=2_000_000)
