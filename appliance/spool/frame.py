"""The spool's on-disk record frame (DESIGN 3.2).

A frame is, little-endian:

    offset size  field
    0      4     magic 8f 5e 1c 7a
    4      1     format version (1)
    5      1     flags (0)
    6      2     reserved (0)
    8      4     metadata length M
    12     4     body length B
    16     8     receive time, ns since the epoch
    24     16    record id
    40     4     header CRC32C over bytes 0-39
    44     M     metadata: UTF-8 JSON {"path", "headers", "client_ip"?}
    44+M   B     body, exactly as received
    44+M+B 4     trailer CRC32C over bytes 0..44+M+B (header, metadata, body)

The magic lets a reader resynchronise after damage; the header CRC rejects a
magic that occurs by chance inside other data.
"""

from __future__ import annotations

import mmap
import struct

import google_crc32c
import orjson

from appliance.spool.record import SpoolRecord

MAGIC = bytes.fromhex("8f5e1c7a")
VERSION = 1
_HEADER = struct.Struct("<4sBBHIIQ16s")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER.size + _CRC.size  # 44
TRAILER_SIZE = _CRC.size
OVERHEAD = HEADER_SIZE + TRAILER_SIZE
MAX_META = 1 << 20
MAX_BODY = 1 << 30
INLINE_BODY = 4096

FrameBuffer = bytes | bytearray | mmap.mmap  # frames are decoded from a segment's mmap or bytes
_pack_header = _HEADER.pack
_pack_crc = _CRC.pack
_crc = google_crc32c.value


class FrameError(ValueError):
    """Bytes that are not a valid frame."""


def encode_meta(record: SpoolRecord) -> bytes:
    meta: dict[str, object] = {"path": record.path, "headers": record.headers}
    if record.client_ip is not None:
        meta["client_ip"] = record.client_ip
    return orjson.dumps(meta)


def encode(record: SpoolRecord) -> list[bytes]:
    """The frame for one record, as buffers for os.writev.

    A body of up to INLINE_BODY bytes is copied into the frame's single
    buffer: for small records the copy costs less than the extra iovecs and
    checksum call. A larger body is not copied: [header+metadata, body, trailer].
    """
    meta = encode_meta(record)
    body = record.body
    if len(meta) > MAX_META or len(body) > MAX_BODY:
        raise FrameError("record too large for a spool frame")
    head = _pack_header(MAGIC, VERSION, 0, 0, len(meta), len(body), record.received_ns,
                        record.record_id)
    if len(body) <= INLINE_BODY:
        data = b"".join((head, _pack_crc(_crc(head)), meta, body))
        return [data + _pack_crc(_crc(data))]
    first = b"".join((head, _pack_crc(_crc(head)), meta))
    return [first, body, _pack_crc(google_crc32c.extend(_crc(first), body))]


def frame_size(record: SpoolRecord, meta: bytes | None = None) -> int:
    meta = encode_meta(record) if meta is None else meta
    return OVERHEAD + len(meta) + len(record.body)


def decode_header(buf: FrameBuffer, pos: int) -> tuple[int, int, int, bytes]:
    """Check the header at `pos`; return (meta length, body length, time ns, record id)."""
    if len(buf) - pos < HEADER_SIZE:
        raise FrameError("short header")
    fields = _HEADER.unpack_from(buf, pos)
    magic, version, _flags, _reserved, meta_len, body_len, received_ns, record_id = fields
    if magic != MAGIC:
        raise FrameError("no magic")
    (stored,) = _CRC.unpack_from(buf, pos + _HEADER.size)
    if google_crc32c.value(bytes(buf[pos:pos + _HEADER.size])) != stored:
        raise FrameError("header checksum mismatch")
    if version != VERSION:
        raise FrameError(f"unknown frame version {version}")
    if meta_len > MAX_META or body_len > MAX_BODY:
        raise FrameError("implausible lengths")
    return meta_len, body_len, received_ns, record_id


def decode_at(buf: FrameBuffer, pos: int) -> tuple[SpoolRecord, int]:
    """Decode the frame at `pos` of `buf`; return the record and the offset after it."""
    meta_len, body_len, received_ns, record_id = decode_header(buf, pos)
    meta_start = pos + HEADER_SIZE
    body_start = meta_start + meta_len
    crc_at = body_start + body_len
    end = crc_at + TRAILER_SIZE
    if end > len(buf):
        raise FrameError("frame runs past the end of the data")
    # Slices of the meta and body are copies we need anyway; the CRC runs over them.
    # bytes() is free for bytes/mmap slices and makes a bytearray's slices
    # acceptable to google_crc32c (which takes only read-only buffers).
    meta_bytes = bytes(buf[meta_start:body_start])
    body = bytes(buf[body_start:crc_at])
    crc = google_crc32c.value(bytes(buf[pos:meta_start]))
    crc = google_crc32c.extend(google_crc32c.extend(crc, meta_bytes), body)
    if crc != _CRC.unpack_from(buf, crc_at)[0]:
        raise FrameError("trailer checksum mismatch")
    try:
        meta = orjson.loads(meta_bytes)
        record = SpoolRecord(
            record_id=bytes(record_id),
            received_ns=received_ns,
            path=meta["path"],
            headers=meta.get("headers", {}),
            client_ip=meta.get("client_ip"),
            body=bytes(body),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise FrameError(f"bad metadata: {e}") from None
    return record, end
