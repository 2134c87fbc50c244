"""Numbers as an operator reads them: bytes, rates, durations, counts (in the dashboard,
`appliance status` and job progress alike)."""

from __future__ import annotations

_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def human_bytes(n: float | None) -> str:
    """1536 -> '1.5 KB' (powers of 1000, like disks and network links); None -> '-'."""
    if n is None:
        return "-"
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_count(n: float | None) -> str:
    """12345 -> '12,345'; None -> '-'."""
    return "-" if n is None else f"{int(n):,}"


def human_rate(per_second: float | None) -> str:
    """A per-second rate with one decimal below 100: '3.2/s', '1,250/s'."""
    if per_second is None:
        return "-"
    return f"{per_second:.1f}/s" if per_second < 100 else f"{per_second:,.0f}/s"


def human_seconds(seconds: float | None) -> str:
    """A duration in its natural unit: '850 µs', '12.5 ms', '3.2 s', '4m 05s', '2h 03m'."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24:02d}h"


def text_bar(fraction: float, width: int) -> str:
    """A fixed-width bar of block characters for `fraction` in [0, 1]."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled)
