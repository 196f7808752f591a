"""Counter-based, stateless noise: the same (seed, key, stream, index) always gives the same value.

There is no shared sequential random generator, so a time slot's noise does not depend on
where a run started or which meters it simulates. The mixer is SplitMix64 (Steele, Lea and
Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014), applied to numpy
``uint64`` arrays so a whole fleet is drawn in one call. Keys are hashed with BLAKE2b, never
with Python's ``hash()``, which is salted per process.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import ArrayLike, NDArray

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / float(1 << 53)


def key64(text: str) -> int:
    """Return a stable 64-bit key for a name such as a meter id or a noise stream."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _mix_int(x: int) -> int:
    """SplitMix64 finaliser on a Python int (for combining scalar keys)."""
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def base_key(seed: int, *keys: int) -> int:
    """Combine a seed and 64-bit keys into one 64-bit stream key."""
    h = _mix_int(seed & _MASK)
    for k in keys:
        h = _mix_int(h ^ (k & _MASK))
    return h


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    x = x + np.uint64(_GOLDEN)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _hash(base: ArrayLike, index: ArrayLike) -> NDArray[np.uint64]:
    """Hash stream keys (broadcast) with integer counters (broadcast) to uint64."""
    b = np.atleast_1d(np.asarray(base, dtype=np.uint64))
    i = np.atleast_1d(np.asarray(index, dtype=np.int64)).view(np.uint64)
    with np.errstate(over="ignore"):
        return _mix(_mix(b ^ i))


def uniform(base: ArrayLike, index: ArrayLike) -> NDArray[np.float64]:
    """Return uniform values in [0, 1) for stream keys ``base`` and counters ``index``."""
    h = _hash(base, index)
    return (h >> np.uint64(11)).astype(np.float64) * _INV_2_53


def normal(base: ArrayLike, index: ArrayLike) -> NDArray[np.float64]:
    """Return standard-normal values (Box-Muller) for stream keys and counters."""
    h = _hash(base, index)
    with np.errstate(over="ignore"):
        h2 = _mix(h ^ np.uint64(0xD1B54A32D192ED03))
    u1 = ((h >> np.uint64(11)).astype(np.float64) + 1.0) * _INV_2_53  # (0, 1]
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * _INV_2_53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def smooth_normal(base: ArrayLike, t: ArrayLike, period: float) -> NDArray[np.float64]:
    """Return a continuous noise signal: standard-normal knots every ``period``, eased between.

    ``t`` and ``period`` share a unit (seconds, days). Cosine easing keeps the signal smooth;
    between knots its spread dips below 1, which is fine for load and weather wiggles.
    """
    x = np.asarray(t, dtype=np.float64) / period
    i = np.floor(x)
    w = (1.0 - np.cos(np.pi * (x - i))) / 2.0
    i64 = i.astype(np.int64)
    b = np.asarray(base, dtype=np.uint64)
    return (1.0 - w) * normal(b, i64) + w * normal(b, i64 + 1)
