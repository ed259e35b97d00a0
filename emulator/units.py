"""Parsing of rates, durations and percentages as users write them."""
from __future__ import annotations

import re

_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(bit|bit/s|b/s|)\s*$", re.I)
_TIME = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|µs|ms|s|)\s*$", re.I)
_PCT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$")
_MULT = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
MAX_RATE = 2**64  # tc takes rates as 64-bit numbers


def rate(value) -> int:
    """'1gbit', '100Mbit', '10M', '2.5G', 1000000 -> bits per second."""
    if isinstance(value, bool):
        raise ValueError("expected a rate such as 100mbit")
    s = str(value)
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("a rate must be positive")
        bits = float(value)
    else:
        if re.search(r"bps\s*$", s, re.I):
            raise ValueError(f"'{s}' is ambiguous: tc reads 'bps' as bytes per second; "
                             f"write bits, e.g. 100mbit or 1gbit")
        m = _RATE.match(s)
        if not m:
            raise ValueError(f"'{s}' is not a rate; write e.g. 100mbit, 1gbit, 10M")
        bits = float(m.group(1)) * _MULT[m.group(2).lower()]
    if bits != bits:
        raise ValueError(f"'{s}' is not a rate; write e.g. 100mbit, 1gbit, 10M")
    if bits < 8:
        raise ValueError(f"'{s}' is too small a rate (at least 8 bit/s)")
    if not bits < MAX_RATE:  # also inf and nan
        raise ValueError(f"'{s}' is too large a rate")
    return int(bits)


def duration(value) -> float:
    """'2ms', '100us', '1s', 5 (milliseconds) -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 2ms")
    if isinstance(value, (int, float)):
        secs = float(value) / 1000.0
    else:
        m = _TIME.match(str(value))
        if not m:
            raise ValueError(f"'{value}' is not a duration; write e.g. 2ms, 100us, 1s")
        unit = m.group(2).lower()
        secs = float(m.group(1)) * {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "": 1e-3}[unit]
    if not 0 <= secs <= 3600:  # also nan
        raise ValueError(f"'{value}' is out of range (0 to 1 hour)")
    return secs


def percent(value) -> float:
    """'0.1%', 0.1 -> 0.1 (percent)."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage such as 0.1%")
    if isinstance(value, (int, float)):
        p = float(value)
    else:
        m = _PCT.match(str(value))
        if not m:
            raise ValueError(f"'{value}' is not a percentage; write e.g. 0.1%")
        p = float(m.group(1))
    if not 0 <= p <= 100:
        raise ValueError(f"'{value}' is not between 0% and 100%")
    return p


def tc_rate(bits: int) -> str:
    return f"{bits}bit"


def tc_time(secs: float) -> str:
    return f"{secs * 1e6:.0f}us"


def human_rate(bits: float) -> str:
    for unit, f in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bits >= f:
            return f"{bits / f:.3g} {unit}"
    return f"{bits:.0f} bit/s"
