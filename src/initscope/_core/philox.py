"""Counter-based random bits: Philox-4x64-10, indexed by position, keyed by a hash.

A counter-based generator (Salmon et al. 2011, "Parallel random numbers: as easy as
1, 2, 3") is a keyed bijection ``block -> Philox(key, block)``: the bits at any position
are computed directly, without running a sequence up to it. So the value of element
``i`` of a parameter is a pure function of ``(key, i)``: the same on one process or on
any number of shards, in any order, with nothing communicated.

Layout (version 1). One Philox-4x64-10 block, counter ``(b, 0, 0, 0)``, gives four
64-bit words; word ``w`` is split into its low then high 32 bits, so block ``b`` holds
the 32-bit *lanes* ``8 b .. 8 b + 7``. Lane ``i`` belongs to element ``i``. The block
function is NumPy's C implementation of Random123's Philox-4x64-10 (checked against
Random123's known-answer vectors and an independent pure-Python implementation in the
tests); NumPy releases the GIL while it runs, so chunks can be computed by threads.

The key is 128 bits of BLAKE2b over the parts that name a stream: version, seed,
parameter name, sub-stream.

>>> lanes(key_of("doc", 0), 6, 4)
array([1338816342, 2778200943, 3050954133,  516130157], dtype=uint32)
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

#: 32-bit lanes per Philox-4x64 block.
LANES_PER_BLOCK = 8
_MASK64 = (1 << 64) - 1
_WRAP = np.full(4, _MASK64, dtype=np.uint64)
_EMPTY_BUFFER = np.zeros(4, dtype=np.uint64)
_local = threading.local()


def _engine() -> np.random.Philox:
    """This thread's Philox engine: setting its state (~1 us) is cheaper than building
    one (~12 us), and the state fully determines the blocks it computes."""
    engine: np.random.Philox | None = getattr(_local, "engine", None)
    if engine is None:
        engine = _local.engine = np.random.Philox(0)
    return engine


def key_of(*parts: object) -> tuple[int, int]:
    """A 128-bit Philox key (two 64-bit words) from the parts that name a stream.

    Parts are joined by their ``repr`` so ``("a", 1)`` and ``("a", "1")`` differ.
    """
    text = "\x1f".join(repr(p) for p in parts).encode()
    digest = hashlib.blake2b(text, digest_size=16).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")


def lanes(key: tuple[int, int], start: int, count: int) -> np.ndarray:
    """The 32-bit lanes ``start .. start + count - 1`` of the stream ``key``.

    Generates only the blocks that hold them: cost is ``count`` plus at most 14 lanes.
    """
    if start < 0 or count < 0:
        raise ValueError(f"lanes: start and count must be >= 0; got {start}, {count}")
    if count == 0:
        return np.empty(0, dtype=np.uint32)
    first = start // LANES_PER_BLOCK
    last = (start + count - 1) // LANES_PER_BLOCK
    # NumPy's Philox increments its counter before computing a block: start one below.
    counter = _WRAP if first == 0 else np.array([first - 1, 0, 0, 0], dtype=np.uint64)
    engine = _engine()
    engine.state = {
        "bit_generator": "Philox",
        "state": {"counter": counter, "key": np.array(key, dtype=np.uint64)},
        "buffer": _EMPTY_BUFFER, "buffer_pos": 4, "has_uint32": 0, "uinteger": 0,
    }
    words = engine.random_raw((last - first + 1) * 4)
    flat = words.astype("<u8", copy=False).view("<u4")
    skip = start - first * LANES_PER_BLOCK
    return flat[skip:skip + count]


def lanes_for_runs(key: tuple[int, int], starts: np.ndarray, length: int) -> np.ndarray:
    """Lanes of several runs ``[s, s + length)``, concatenated in the order of ``starts``.

    Runs close together are cut from one covering range (one engine call); runs far
    apart are generated one by one, so the work stays near ``len(starts) * length``.
    """
    n = len(starts)
    if n == 0 or length == 0:
        return np.empty(0, dtype=np.uint32)
    lo, hi = int(starts.min()), int(starts.max()) + length
    needed = n * length
    if hi - lo <= max(4 * needed, 4096):
        cover = lanes(key, lo, hi - lo)
        if hi - lo == needed and n > 0 and bool(np.all(np.diff(starts) == length)):
            return cover
        index = (starts - lo)[:, None] + np.arange(length)
        return cover[index].reshape(-1)
    return np.concatenate([lanes(key, int(s), length) for s in starts])
