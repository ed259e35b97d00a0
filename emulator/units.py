"""Units in one place: parsing rates, durations and percentages as users write them, and
formatting measured values as people read them (reports, plots, the web UI)."""
from __future__ import annotations

import math
import re

from .errors import quote

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
            raise ValueError(f"{quote(s)} is ambiguous: tc reads 'bps' as bytes per second; "
                             f"write bits, e.g. 100mbit or 1gbit")
        m = _RATE.match(s)
        if not m:
            raise ValueError(f"{quote(s)} is not a rate; write e.g. 100mbit, 1gbit, 10M")
        bits = float(m.group(1)) * _MULT[m.group(2).lower()]
    if bits != bits:
        raise ValueError(f"{quote(s)} is not a rate; write e.g. 100mbit, 1gbit, 10M")
    if bits < 8:
        raise ValueError(f"{quote(s)} is too small a rate (at least 8 bit/s)")
    if not bits < MAX_RATE:  # also inf and nan
        raise ValueError(f"{quote(s)} is too large a rate")
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
            raise ValueError(f"{quote(value)} is not a duration; write e.g. 2ms, 100us, 1s")
        unit = m.group(2).lower()
        secs = float(m.group(1)) * {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "": 1e-3}[unit]
    if not 0 <= secs <= 3600:  # also nan
        raise ValueError(f"{quote(value)} is out of range (0 to 1 hour)")
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
            raise ValueError(f"{quote(value)} is not a percentage; write e.g. 0.1%")
        p = float(m.group(1))
    if not 0 <= p <= 100:
        raise ValueError(f"{quote(value)} is not between 0% and 100%")
    return p


def tc_rate(bits: int) -> str:
    return f"{bits}bit"


def tc_time(secs: float) -> str:
    return f"{secs * 1e6:.0f}us"


# ---------------------------------------------------------------------------------------
# formatting values for people (reports, plots, the web UI, terminal summaries)

RATE_UNITS = (("Tbit/s", 1e12), ("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3))
BYTE_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
_UNIT_TO_BPS = {"bit/s": 1, "bps": 1, "b/s": 1, "bit": 1, "kbit/s": 1e3, "kbps": 1e3,
                "mbit/s": 1e6, "mbps": 1e6, "gbit/s": 1e9, "gbps": 1e9, "tbit/s": 1e12}
_UNIT_TO_S = {"s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def text(x, default: str = "") -> str:
    """x as text; None -> default."""
    if x is None:
        return default
    return x if isinstance(x, str) else str(x)


def finite(x):
    """A finite float, or None (also for bools, text and NaN)."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def sig(x: float) -> str:
    """About three significant digits, never scientific notation for ordinary values."""
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.001:
        return f"{x:.3g}"
    return f"{x:.2e}"


def human_pct(v: float) -> str:
    """16.7 -> '16.7%', 8.0 -> '8%', 0.05 -> '0.05%'."""
    t = sig(v)
    if "." in t and "e" not in t:
        t = t.rstrip("0").rstrip(".")
    return t + "%"


def human_rate(bps) -> str:
    """9.4e7 -> '94.0 Mbit/s'; what is not a number is shown as it is (None -> '—')."""
    v = finite(bps)
    if v is None:
        return text(bps, "—")
    for unit, f in RATE_UNITS:
        if abs(v) >= f:
            return f"{sig(v / f)} {unit}"
    return f"{sig(v)} bit/s"


def human_bytes(n: float) -> str:
    for unit, f in BYTE_UNITS:
        if abs(n) >= f:
            return f"{sig(n / f)} {unit}"
    return f"{n:.0f} B"


def human_seconds(s: float) -> str:
    a = abs(s)
    if a >= 3600:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    if a >= 60:
        return f"{int(s // 60)} min {s % 60:.0f} s"
    if a >= 1 or a == 0:
        return f"{sig(s)} s"
    if a >= 1e-3:
        return f"{sig(s * 1e3)} ms"
    return f"{sig(s * 1e6)} µs"


def human_duration(x) -> str:
    """Seconds as a person reads them; '—' when not a number."""
    v = finite(x)
    return "—" if v is None else human_seconds(v)


def kind(metric, unit=None) -> str:
    """What a metric measures, from its unit or name: rate | ms | s | pct | bytes | plain."""
    m = text(metric).lower()
    u = text(unit).strip().lower()
    if u in _UNIT_TO_BPS or m.endswith("_bps") or m in ("throughput", "bandwidth"):
        return "rate"
    if u in ("ms",) or (not u and m.endswith("_ms")):
        return "ms"
    if u in ("s", "sec", "seconds") or (not u and m.endswith("_s")):
        return "s"
    if u in ("%", "pct", "percent") or (not u and (m.endswith("_pct") or m.endswith("_percent"))):
        return "pct"
    if u in ("b", "byte", "bytes") or (not u and m.endswith("_bytes")):
        return "bytes"
    return "plain"


def to_base(value, unit, kind_):
    """A value in `unit` in the base unit of its kind (bit/s, ms, s); None when not a number."""
    v = finite(value)
    if v is None:
        return None
    u = text(unit).strip().lower()
    if kind_ == "rate":
        return v * _UNIT_TO_BPS.get(u, 1)
    if kind_ == "ms" and u in _UNIT_TO_S:
        return v * _UNIT_TO_S[u] * 1e3
    if kind_ == "s" and u in _UNIT_TO_S:
        return v * _UNIT_TO_S[u]
    return v


def human_kind(v: float, kind_: str, unit=None) -> str:
    """A number already in the base unit of kind_ (see kind()) as a person reads it."""
    if kind_ == "rate":
        return human_rate(v)
    if kind_ == "ms":
        return f"{sig(v * 1e3)} µs" if v and abs(v) < 0.01 else f"{sig(v)} ms"
    if kind_ == "s":
        return human_seconds(v)
    if kind_ == "pct":
        return human_pct(v)
    if kind_ == "bytes":
        return human_bytes(v)
    return f"{sig(v)} {text(unit)}".strip()


def human_value(metric, value, unit=None) -> str:
    """A measurement as a person reads it: ('throughput_bps', 9.4e7) -> '94.0 Mbit/s',
    ('loss_pct', 16.7) -> '16.7%', ('rtt_avg_ms', 0.05) -> '0.05 ms'."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    k = kind(metric, unit)
    v = finite(value)
    if v is None:
        return text(value)
    if k != "plain":
        return human_kind(to_base(v, unit, k), k)
    t = str(value) if isinstance(value, int) else sig(v)
    u = text(unit).strip()
    return f"{t} {u}" if u else t


def axis_scale(kind_: str, maxabs: float, unit=None) -> tuple[float, str]:
    """(factor, unit label) so that the numbers on a chart's axis read in human units."""
    if kind_ == "rate":
        for u, f in RATE_UNITS:
            if maxabs >= f:
                return f, u
        return 1.0, "bit/s"
    if kind_ == "ms":
        return (1e-3, "µs") if 0 < maxabs < 0.01 else (1.0, "ms")
    if kind_ == "s":
        if 0 < maxabs < 0.01:
            return 1e-6, "µs"
        if 0 < maxabs < 1:
            return 1e-3, "ms"
        return 1.0, "s"
    if kind_ == "pct":
        return 1.0, "%"
    if kind_ == "bytes":
        for u, f in BYTE_UNITS[1:]:
            if maxabs >= f:
                return float(f), u
        return 1.0, "B"
    return 1.0, text(unit)


_PARAM_NUM = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*([a-zµ%/]*)\s*$", re.I)
_PARAM_MULT = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
               "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12, "bit": 1,
               "kbit/s": 1e3, "mbit/s": 1e6, "gbit/s": 1e9, "bit/s": 1,
               "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "%": 1, "b": 1,
               "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def loose_number(v):
    """A parameter value as a number in base units, leniently: '100mbit' -> 1e8, '2ms' -> 0.002,
    '0.1%' -> 0.1, 64 -> 64; None when it is not one (used to order and place sweep points)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return finite(v)
    m = _PARAM_NUM.match(text(v))
    if not m:
        return None
    mult = _PARAM_MULT.get(m.group(2).lower())
    if mult is None:
        return None
    return float(m.group(1)) * mult


def human_time(secs: float) -> str:
    """0.002 -> '2ms', 1.5 -> '1.5s', 0.0001 -> '100us' (as a topology writes it)."""
    for unit, f in (("s", 1.0), ("ms", 1e-3)):
        if secs >= f:
            return f"{secs / f:g}{unit}"
    return f"{secs * 1e6:g}us"


def tc_style_rate(bits: float) -> str:
    """1000000000 -> '1gbit', 1500000 -> '1.5mbit' (as a topology writes a bandwidth)."""
    for unit, f in (("tbit", 1e12), ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bits >= f:
            return f"{bits / f:.4g}{unit}"
    return f"{bits:.4g}bit"


def human_impairment(imp: dict) -> str:
    """{'bandwidth': 100000000, 'delay': 0.002, 'loss': 0.1} -> 'bandwidth=100mbit delay=2ms loss=0.1%'."""
    fmt = {"bandwidth": tc_style_rate, "delay": human_time, "jitter": human_time, "loss": lambda v: f"{v:g}%"}
    return " ".join(f"{k}={fmt[k](v) if k in fmt and isinstance(v, (int, float)) else v}" for k, v in imp.items())
