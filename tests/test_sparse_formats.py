"""Sparse storage formats: lossless round trips, exact layouts, byte accounting, the 512x512 figure."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetrain.errors import ExportError
from edgetrain.formats.sparse import (
    ENCODERS,
    DeltaEncoding,
    all_encodings,
    choose_format,
    encode_bitmap,
    encode_coo,
    encode_csc,
    encode_csr,
    encode_delta,
    index_dtype,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALUE_DTYPES = [np.float32, np.int8]


def random_layer(
    rng: np.random.Generator, shape: tuple[int, int], density: float, dtype: type
) -> tuple[np.ndarray, np.ndarray]:
    """A matrix and mask where some masked weights are exactly 0 (and -0.0) and some unmasked
    positions hold garbage, so the tests see that the mask, not the values, decides what is stored."""
    mask = rng.random(shape) < density
    if dtype is np.int8:
        matrix = rng.integers(-128, 128, size=shape).astype(np.int8)
    else:
        matrix = rng.standard_normal(shape).astype(np.float32)
        matrix[rng.random(shape) < 0.05] = -0.0
    matrix[rng.random(shape) < 0.1] = 0
    return matrix, mask


def expected_dense(matrix: np.ndarray, mask: np.ndarray, dtype: type) -> np.ndarray:
    return np.where(mask, matrix, np.zeros((), dtype)).astype(dtype)


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality, so a stored -0.0 must come back as -0.0."""
    assert a.dtype == b.dtype and a.shape == b.shape
    return a.tobytes() == b.tobytes()


def check_encoding(enc, matrix: np.ndarray, mask: np.ndarray, dtype: type) -> None:
    """Everything every encoding must satisfy for this layer."""
    assert bits_equal(enc.decode(), expected_dense(matrix, mask, dtype)), enc.format
    arrays = enc.arrays()
    assert enc.nbytes.total == sum(a.nbytes for a in arrays.values())
    assert enc.nbytes.index + enc.nbytes.value == enc.nbytes.total
    assert all(a.ndim == 1 for a in arrays.values())
    assert arrays["values"].dtype == np.dtype(dtype)
    stored = enc.stored_mask()
    if enc.format == "dense":
        assert stored.all()
    elif isinstance(enc, DeltaEncoding):
        # Fillers are extra stored positions holding 0; every real mask position is stored.
        assert np.all(stored[mask])
        extra = stored & ~mask
        assert extra.sum() == enc.n_fillers == enc.nbytes.fillers
        assert not np.any(enc.decode()[extra])
        assert enc.nnz == mask.sum()
    else:
        assert np.array_equal(stored, mask), enc.format
        assert enc.nnz == mask.sum()


def expected_index_dtype(max_value: int) -> np.dtype:
    return np.dtype(np.uint8 if max_value < 256 else np.uint16 if max_value < 65536 else np.uint32)


def check_index_widths(encs: dict, shape: tuple[int, int], nnz: int) -> None:
    n_rows, n_cols = shape
    assert encs["coo"].rows.dtype == expected_index_dtype(n_rows - 1)
    assert encs["coo"].cols.dtype == expected_index_dtype(n_cols - 1)
    assert encs["csr"].cols.dtype == expected_index_dtype(n_cols - 1)
    assert encs["csr"].row_ptr.dtype == expected_index_dtype(nnz)
    assert encs["csc"].row_offsets.dtype == expected_index_dtype(4 * (n_rows - 1))
    assert encs["csc"].col_ptr.dtype == expected_index_dtype(nnz)
    assert encs["grouped"].runs.dtype == expected_index_dtype(max(n_rows, n_cols))
    assert encs["grouped"].cols.dtype == np.uint32  # always: the fast kernel LDMs them
    for name in ("delta8", "delta4", "bitmap"):
        assert all(a.dtype == np.uint8 for n, a in encs[name].arrays().items() if n != "values")


# ---------------------------------------------------------------------------------------------- #
# Property tests


@st.composite
def layers(draw, max_side: int = 48):
    # Bias towards the edges: single row or column, all-zero and all-one masks.
    kind = draw(st.sampled_from(["any", "row", "col"]))
    long_side = draw(st.integers(1, 700))
    if kind == "row":
        shape = (1, long_side)
    elif kind == "col":
        shape = (long_side, 1)
    else:
        shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    density = draw(st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0), st.floats(0.0, 0.05)))
    dtype = draw(st.sampled_from(VALUE_DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    matrix, mask = random_layer(np.random.default_rng(seed), shape, density, dtype)
    return matrix, mask, dtype


@SETTINGS
@given(layers())
def test_every_format_round_trips(layer) -> None:
    matrix, mask, dtype = layer
    encs = all_encodings(matrix, mask, dtype)
    assert list(encs) == list(ENCODERS)
    for enc in encs.values():
        check_encoding(enc, matrix, mask, dtype)
    check_index_widths(encs, matrix.shape, int(mask.sum()))
    chosen = choose_format(matrix, mask, dtype)
    assert chosen.nbytes.total == min(e.nbytes.total for e in encs.values())


@SETTINGS
@given(
    length=st.integers(1, 3000),
    n_points=st.integers(0, 6),
    seed=st.integers(0, 2**32 - 1),
    column=st.booleans(),
    dtype=st.sampled_from(VALUE_DTYPES),
)
def test_gaps_longer_than_the_field(length, n_points, seed, column, dtype) -> None:
    """Very sparse vectors: gaps far beyond 15 and 255 force filler entries."""
    rng = np.random.default_rng(seed)
    flat_mask = np.zeros(length, dtype=bool)
    flat_mask[rng.choice(length, size=min(n_points, length), replace=False)] = True
    shape = (length, 1) if column else (1, length)
    mask = flat_mask.reshape(shape)
    matrix = (rng.integers(1, 100, size=shape) * rng.choice([-1, 1], size=shape)).astype(dtype)
    positions = np.flatnonzero(flat_mask)
    real_gaps = np.diff(positions, prepend=-1) - 1
    for bits in (8, 4):
        enc = encode_delta(matrix, mask, dtype, gap_bits=bits)
        check_encoding(enc, matrix, mask, dtype)
        field_max = (1 << bits) - 1
        # The documented filler rule: a gap g costs g // (G + 1) fillers, nothing trails the end.
        assert enc.n_fillers == int(np.sum(real_gaps // (field_max + 1)))
        assert enc.n_entries == positions.size + enc.n_fillers
        gaps = enc.unpacked_gaps()
        assert gaps.max(initial=0) <= field_max
        assert enc.gaps.nbytes == (enc.n_entries if bits == 8 else (enc.n_entries + 1) // 2)


# ---------------------------------------------------------------------------------------------- #
# Exact layouts the C kernels rely on


def test_delta8_layout_by_hand() -> None:
    matrix = np.zeros((1, 600), dtype=np.float32)
    for pos, v in [(0, 1.0), (1, 2.0), (300, 3.0), (599, 4.0)]:
        matrix[0, pos] = v
    enc = encode_delta(matrix, None, np.float32, gap_bits=8)
    # 0 -> gap 0; 1 -> gap 0; 300 -> skip 298 = filler(255, lands on 257) + gap 42; 599 likewise.
    assert enc.gaps.tolist() == [0, 0, 255, 42, 255, 42]
    assert enc.values.tolist() == [1.0, 2.0, 0.0, 3.0, 0.0, 4.0]
    assert enc.n_fillers == 2 and enc.nbytes.fillers == 2
    assert enc.nbytes.index == 6 and enc.nbytes.value == 24


def test_delta4_packing_by_hand() -> None:
    matrix = np.zeros((2, 20), dtype=np.int8)  # positions 0, 20 (row 1 col 0), 39 (row 1 col 19)
    matrix[0, 0], matrix[1, 0], matrix[1, 19] = 5, -6, 7
    enc = encode_delta(matrix, None, np.int8, gap_bits=4)
    # Gaps 0, 19 (= filler 15 at pos 16, then 3), 18 (= filler 15 at pos 36, then 2).
    assert enc.unpacked_gaps().tolist() == [0, 15, 3, 15, 2]
    # Entry 2k in the low nibble, 2k+1 in the high nibble, odd tail padded with 0.
    assert enc.gaps.tolist() == [0xF0, 0xF3, 0x02]
    assert enc.values.tolist() == [5, 0, -6, 0, 7]
    assert enc.values.dtype == np.int8


def test_gap_of_exactly_the_field_max_needs_no_filler() -> None:
    matrix = np.zeros((1, 300), dtype=np.float32)
    matrix[0, 255] = 1.0  # 255 positions skipped: fits the 8-bit field exactly
    enc = encode_delta(matrix, None, np.float32, gap_bits=8)
    assert enc.gaps.tolist() == [255] and enc.n_fillers == 0
    matrix2 = np.zeros((1, 300), dtype=np.float32)
    matrix2[0, 256] = 1.0  # one more: now a filler is needed
    enc2 = encode_delta(matrix2, None, np.float32, gap_bits=8)
    assert enc2.gaps.tolist() == [255, 0] and enc2.n_fillers == 1


def test_bitmap_bit_order_by_hand() -> None:
    matrix = np.zeros((3, 3), dtype=np.float32)
    matrix[0, 1], matrix[2, 2] = 1.5, -2.5  # flat positions 1 and 8
    enc = encode_bitmap(matrix, None, np.float32)
    assert enc.bits.tolist() == [0b0000_0010, 0b0000_0001]  # LSB first, rows not padded
    assert enc.values.tolist() == [1.5, -2.5]


def test_csr_and_coo_by_hand() -> None:
    matrix = np.array([[0, 3, 0], [0, 0, 0], [4, 0, 5]], dtype=np.int8)
    csr = encode_csr(matrix, None, np.int8)
    assert csr.row_ptr.tolist() == [0, 1, 1, 3]
    assert csr.cols.tolist() == [1, 0, 2]
    assert csr.values.tolist() == [3, 4, 5]
    coo = encode_coo(matrix, None, np.int8)
    assert (coo.rows.tolist(), coo.cols.tolist()) == ([0, 2, 2], [1, 0, 2])


def test_csc_by_hand() -> None:
    """Column-major: column by column, rows ascending within a column."""
    matrix = np.array([[0, 3, 0], [0, 0, 0], [4, 6, 5]], dtype=np.int8)
    csc = encode_csc(matrix, None, np.int8)
    assert csc.col_ptr.tolist() == [0, 1, 3, 4]
    assert csc.rows.tolist() == [2, 0, 2, 2]
    assert csc.row_offsets.tolist() == [8, 0, 8, 8]  # byte offsets, 4 * row
    assert csc.values.tolist() == [4, 3, 6, 5]
    assert np.array_equal(csc.decode(), matrix)
    assert list(csc.arrays()) == ["col_ptr", "row_offsets", "values"]


def test_grouped_by_hand() -> None:
    """Runs of consecutive rows with equal lengths, (length, count) pairs; then CSR's cols/values."""
    matrix = np.array([[0, 3, 0], [1, 0, 0], [0, 0, 0], [4, 0, 5], [0, 6, 7]], dtype=np.int8)
    enc = ENCODERS["grouped"](matrix, None, np.int8)
    assert enc.runs.tolist() == [1, 2, 0, 1, 2, 2]
    assert enc.cols.tolist() == [1, 0, 0, 2, 1, 2] and enc.cols.dtype == np.uint32
    assert enc.values.tolist() == [3, 1, 4, 5, 6, 7]
    assert enc.row_lengths().tolist() == [1, 1, 0, 2, 2]
    assert np.array_equal(enc.decode(), matrix)
    assert list(enc.arrays()) == ["runs", "cols", "values"]


def test_index_widths_grow_with_the_shape() -> None:
    assert index_dtype(255) == np.uint8 and index_dtype(256) == np.uint16
    assert index_dtype(65535) == np.uint16 and index_dtype(65536) == np.uint32
    rng = np.random.default_rng(1)
    for shape in [(256, 256), (257, 3), (3, 257), (300, 300)]:
        matrix, mask = random_layer(rng, shape, 1.0, np.float32)
        encs = all_encodings(matrix, mask, np.float32)
        for enc in encs.values():
            check_encoding(enc, matrix, mask, np.float32)
        check_index_widths(encs, shape, int(mask.sum()))
    # 300x300 fully dense: 90,000 non-zeros push row_ptr to uint32.
    assert encs["csr"].row_ptr.dtype == np.uint32


# ---------------------------------------------------------------------------------------------- #
# Mask semantics and input checks


def test_masked_zero_weight_is_stored() -> None:
    """The mask is the truth: a live connection whose weight is exactly 0 keeps its slot."""
    matrix = np.array([[0.0, 1.0], [-0.0, 0.0]], dtype=np.float32)
    mask = np.array([[True, True], [True, False]])
    for enc in all_encodings(matrix, mask, np.float32).values():
        check_encoding(enc, matrix, mask, np.float32)
        if enc.format != "dense":
            assert enc.nnz == 3
    # -0.0 survives bit for bit.
    assert np.signbit(encode_csr(matrix, mask, np.float32).values[2])


def test_unmasked_values_are_dropped() -> None:
    matrix = np.ones((2, 2), dtype=np.float32)
    mask = np.array([[True, False], [False, False]])
    for enc in all_encodings(matrix, mask, np.float32).values():
        assert enc.decode().tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_without_mask_the_non_zeros_are_stored() -> None:
    matrix = np.array([[0, 2], [0, 0]], dtype=np.int8)
    assert encode_coo(matrix, None, np.int8).nnz == 1


@pytest.mark.parametrize(
    "matrix",
    [np.array([[0.5, 1.0]]), np.array([[128.0, 0.0]]), np.array([[np.nan, 1.0]])],
)
def test_int8_values_must_already_be_quantized(matrix) -> None:
    with pytest.raises(ExportError):
        encode_csr(matrix, None, np.int8)


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ExportError):
        encode_csr(np.zeros(4), None, np.float32)
    with pytest.raises(ExportError):
        encode_csr(np.zeros((2, 2)), np.zeros((2, 3), bool), np.float32)
    with pytest.raises(ExportError):
        encode_csr(np.zeros((2, 2)), None, np.float64)
    with pytest.raises(ExportError):
        encode_delta(np.zeros((2, 2)), None, np.float32, gap_bits=2)


def test_chooser_prefers_dense_when_full_and_indices_when_sparse() -> None:
    rng = np.random.default_rng(2)
    matrix, mask = random_layer(rng, (64, 64), 1.0, np.float32)
    assert choose_format(matrix, mask, np.float32).format == "dense"
    matrix, mask = random_layer(rng, (64, 64), 0.3, np.int8)
    assert choose_format(matrix, mask, np.int8).format == "bitmap"
    matrix, mask = random_layer(rng, (512, 512), 0.02, np.float32)
    assert choose_format(matrix, mask, np.float32).format == "delta8"


# ---------------------------------------------------------------------------------------------- #
# A 512x512 layer at about 2% density, the size of a SET hidden layer


def test_512x512_two_percent_byte_table() -> None:
    rng = np.random.default_rng(0)
    shape = (512, 512)
    mask = rng.random(shape) < 0.0193
    f32 = rng.standard_normal(shape).astype(np.float32)
    i8 = rng.integers(-127, 128, size=shape).astype(np.int8)
    dense_bytes = f32.nbytes
    rows = []
    encs = {}
    for dtype, matrix in [(np.float32, f32), (np.int8, i8)]:
        for name, enc in all_encodings(matrix, mask, dtype).items():
            check_encoding(enc, matrix, mask, dtype)
            encs[(name, np.dtype(dtype).name)] = enc
            b = enc.nbytes
            rows.append(
                f"{name:7s} {np.dtype(dtype).name:8s} {b.index:>9,} {b.value:>10,} {b.fillers:>7,} "
                f"{b.total:>10,} {100 * b.total / dense_bytes:>7.2f}%"
            )
    print(f"\n512x512, density {mask.mean():.4f} ({mask.sum()} non-zeros)")
    print(f"{'format':7s} {'values':8s} {'index B':>9} {'value B':>10} {'fillers':>7} {'total B':>10} "
          f"{'of dense':>8}")
    print("\n".join(rows))

    delta8 = encs[("delta8", "float32")].nbytes.total
    csr = encs[("csr", "float32")].nbytes.total
    assert delta8 <= 0.03 * dense_bytes
    assert delta8 <= 0.85 * csr
