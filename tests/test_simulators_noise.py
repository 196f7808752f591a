"""Counter-based noise: stable across processes, independent of call order and batching."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

from simulators.noise import base_key, key64, normal, smooth_normal, uniform


def test_key64_is_blake2b_not_python_hash() -> None:
    import hashlib

    expected = int.from_bytes(hashlib.blake2b(b"f1-main", digest_size=8).digest(), "little")
    assert key64("f1-main") == expected


def test_values_are_the_same_in_another_process_with_another_hash_seed() -> None:
    code = ("from simulators.noise import base_key, key64, normal; "
            "print(repr(normal(base_key(42, key64('f1-main')), [0, 1, 17]).tolist()))")
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": hs}).stdout
        for hs in ("1", "2")
    }
    assert len(outs) == 1
    assert outs.pop().strip() == repr(normal(base_key(42, key64("f1-main")), [0, 1, 17]).tolist())


def test_a_counter_gives_the_same_value_alone_or_in_a_batch() -> None:
    b = base_key(7, key64("m"))
    batch = uniform(b, np.arange(1000, 1100))
    alone = np.concatenate([uniform(b, i) for i in range(1000, 1100)])
    assert_array_equal(batch, alone)
    # broadcasting over keys (meters) x counters (time) matches per-key draws
    keys = np.asarray([base_key(7, key64(m)) for m in ("a", "b", "c")], dtype=np.uint64)
    grid = normal(keys[:, None], np.arange(5)[None, :])
    assert_array_equal(grid[1], normal(keys[1], np.arange(5)))


def test_seeds_and_keys_give_different_streams() -> None:
    idx = np.arange(64)
    assert not np.array_equal(uniform(base_key(1, 5), idx), uniform(base_key(2, 5), idx))
    assert not np.array_equal(uniform(base_key(1, 5), idx), uniform(base_key(1, 6), idx))


def test_distributions_have_the_right_moments() -> None:
    u = uniform(base_key(3, 9), np.arange(200_000))
    z = normal(base_key(3, 9), np.arange(200_000))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert_allclose([u.mean(), u.var()], [0.5, 1 / 12], atol=0.005)
    assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=0.01)


def test_smooth_noise_passes_through_its_knots_and_is_continuous() -> None:
    b = base_key(5, 1)
    assert_array_equal(smooth_normal(b, [3.0, 4.0], 1.0), normal(b, [3, 4]))
    t = np.linspace(0, 10, 10_001)
    assert np.abs(np.diff(smooth_normal(b, t, 1.0))).max() < 0.01
