"""The converter's gunzip (ISA-L's inflate) answers as zlib's would: the same bytes
for every body zlib takes, the same refusal (reason) for every body it refuses."""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st
from isal import isal_zlib

from appliance.convert.records import Invalid, decompress

DOC = b'{"ver": 1, "histograms": {"A": {"values": {"0": 1}}}, "info": {"OS": "Linux"}}' * 40
MEMBERS = [gzip.compress(DOC[:700], 6), gzip.compress(DOC[700:], 1),
           gzip.compress(b"", 9), gzip.compress(DOC, 0)]


def verdict(body: bytes, limit: int, inflate) -> bytes | str:
    try:
        return decompress(body, limit, inflate)
    except Invalid as e:
        return e.reason


@st.composite
def bodies(draw) -> bytes:
    """One to three gzip members, then bit flips, a cut, a tail or a header flag."""
    body = bytearray(b"".join(draw(st.lists(st.sampled_from(MEMBERS), min_size=1,
                                            max_size=3))))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(body) - 1))
        body[i] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        del body[draw(st.integers(3, len(body))):]
    body += draw(st.sampled_from([b"", b"\x00\x00", b"garbage", b"\x1f\x8b\x08"]))
    if draw(st.booleans()) and len(body) > 3:
        body[3] |= draw(st.sampled_from([2, 4, 8, 16]))  # FHCRC, FEXTRA, FNAME, FCOMMENT
    return bytes(body)


@settings(max_examples=400, deadline=None)
@given(bodies())
def test_isal_and_zlib_give_the_same_answer(body):
    assert verdict(body, 10 << 20, isal_zlib) == verdict(body, 10 << 20, zlib)


@settings(max_examples=200, deadline=None)
@given(bodies(), st.sampled_from([10, 2000, 3000]))
def test_under_a_size_limit_both_take_or_refuse_the_same_bodies(body, limit):
    """Either both give the same bytes or both refuse. The reason may differ for a
    body both damaged and over the limit: which is seen first depends on how much
    output an inflater gives before the input ends."""
    ours, reference = verdict(body, limit, isal_zlib), verdict(body, limit, zlib)
    assert ours == reference or (isinstance(ours, str) and isinstance(reference, str))


def test_a_whole_multi_member_body_decompresses_to_every_member():
    assert decompress(b"".join(MEMBERS), 10 << 20) == DOC[:700] + DOC[700:] + DOC
