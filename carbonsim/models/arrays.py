"""Point matrices laid out for the kernels (layer 1).

A point matrix holds one row per quantity and one column per point; a kernel walks the points
and reads a few dozen rows for each. When a row is a multiple of 4 KiB long (a chunk of 4,096 or
65,536 points), every row starts at the same offset within a page, the rows' cache lines compete
for the same cache sets, and the embodied kernel runs 3-6x slower (benchmarks/bench_embodied.py,
docs/performance.md). Rows spaced 40 elements off a 512-element boundary fall into different sets.
"""

from __future__ import annotations

import numpy as np

#: Row stride modulo 512 elements (4 KiB of float64): 40 elements = 5 cache lines, coprime with
#: the 64 sets of a 4 KiB way, so consecutive rows map to different sets.
_STRIDE_MOD_512 = 40


def padded_rows(rows: int, n: int) -> np.ndarray:
    """An uninitialised float64 array of shape ``(rows, n)`` whose row stride avoids cache-set aliasing.

    The array is a view of a slightly wider buffer (at most 511 extra elements per row): row
    ``r`` starts ``r * stride`` elements in, with ``stride % 512 == 40``.

    Examples
    --------
    >>> a = padded_rows(3, 4096)
    >>> a.shape, a.strides[0] // 8 % 512
    ((3, 4096), 40)
    """
    stride = n + (_STRIDE_MOD_512 - n) % 512
    return np.empty((rows, stride))[:, :n]
