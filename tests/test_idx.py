"""The IDX reader on files the tests write: good files round-trip, damaged ones are errors."""

import gzip
import io
import struct
import tracemalloc

import numpy as np
import pytest

from minidl.data import IDXError, read_idx
from minidl.data import idx as idx_module
from minidl.data.idx import parse_idx

CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def idx_bytes(array):
    """The IDX encoding of ``array``: big-endian header and items."""
    array = np.asarray(array)
    stored = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    header = struct.pack(">HBB", 0, CODES[stored.dtype], array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + stored.tobytes()


def write(path, content, gz):
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-3, 0, 7], dtype=np.int8),
        np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 100_000,
        np.linspace(-1, 1, 10, dtype=np.float32).reshape(5, 2),
        np.array([[1e-300, -2.5]], dtype=np.float64),
        np.zeros((0, 28, 28), dtype=np.uint8),
    ],
)
def test_round_trip(tmp_path, array, gz):
    path = write(tmp_path / "a.idx", idx_bytes(array), gz)
    got = read_idx(path)
    np.testing.assert_array_equal(got, array)
    assert got.shape == array.shape and got.dtype == array.dtype  # native byte order
    assert got.flags.writeable


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    gz_named_idx = write(tmp_path / "x.idx", idx_bytes(array), gz=True)
    raw_named_gz = write(tmp_path / "y.gz", idx_bytes(array), gz=False)
    np.testing.assert_array_equal(read_idx(gz_named_idx), array)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)


@pytest.mark.parametrize(
    "magic, problem",
    [
        (b"\x01\x00\x08\x01", "first two bytes not zero"),
        (b"\x00\x00\x0a\x01", "unknown dtype code"),
        (b"\x00\x00\x08\x00", "zero dimensions"),
        (struct.pack(">I", 2051)[::-1], "little-endian magic"),
    ],
)
def test_wrong_magic(tmp_path, magic, problem):
    path = write(tmp_path / "bad.gz", magic + struct.pack(">I", 3) + b"abc", True)
    with pytest.raises(IDXError, match="bad IDX magic") as info:
        read_idx(path)
    assert str(path) in str(info.value), problem


def test_truncated_payload_is_an_error_naming_the_file(tmp_path):
    content = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    path = write(tmp_path / "short.gz", content[: -28 * 28], True)  # header says 5, holds 4
    with pytest.raises(IDXError, match=r"truncated.*\(5, 28, 28\).*3920 data bytes, file has 3136"):
        read_idx(path)
    with pytest.raises(IDXError, match="short.gz"):
        read_idx(path)


def test_wrong_count_in_header(tmp_path):
    labels = idx_bytes(np.arange(10, dtype=np.uint8))
    too_many = labels[:4] + struct.pack(">I", 11) + labels[8:]
    too_few = labels[:4] + struct.pack(">I", 9) + labels[8:]
    with pytest.raises(IDXError, match="truncated"):
        read_idx(write(tmp_path / "many", too_many, False))
    with pytest.raises(IDXError, match="trailing bytes"):
        read_idx(write(tmp_path / "few", too_few, False))


def test_truncated_header(tmp_path):
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(write(tmp_path / "h", b"\x00\x00\x08\x03" + struct.pack(">I", 1), False))
    with pytest.raises(IDXError, match="too short"):
        read_idx(write(tmp_path / "e", b"\x00\x00", False))


def test_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(
        idx_bytes(np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8))
    )
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(IDXError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gzip_crc_error(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8))))
    compressed[-8] ^= 0xFF  # the CRC-32 of the trailer
    path = tmp_path / "crc.gz"
    path.write_bytes(bytes(compressed))
    with pytest.raises(IDXError, match="crc.gz: corrupt or truncated gzip"):
        read_idx(path)


def gzip_of_zeros(path, header, n_zeros, chunk=1 << 20):
    """A gzip file of ``header`` then ``n_zeros`` zero bytes, written in chunks."""
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(header)
        for start in range(0, n_zeros, chunk):
            out.write(bytes(min(chunk, n_zeros - start)))
    return path


class CountingFile(io.FileIO):
    """A file that counts the bytes read from it."""

    count = 0

    def read(self, size=-1):
        data = super().read(size)
        CountingFile.count += len(data)
        return data

    def readinto(self, buffer):
        n = super().readinto(buffer)
        CountingFile.count += n or 0
        return n


def test_a_small_gzip_that_inflates_far_past_its_header_is_not_inflated(tmp_path, monkeypatch):
    # a header declaring 10 bytes, then 64 MB of zeros in 64 KB of gzip: reading used to
    # decompress everything before comparing with the header
    path = gzip_of_zeros(
        tmp_path / "bomb.gz", b"\x00\x00\x08\x01" + struct.pack(">I", 10), 64 << 20
    )
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(IDXError, match=r"trailing bytes.*10 data bytes, file has more"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    monkeypatch.setattr(idx_module, "open", lambda p, mode: CountingFile(p, "r"), raising=False)
    CountingFile.count = 0
    with pytest.raises(IDXError, match="trailing bytes"):
        read_idx(path)
    assert CountingFile.count < 20_000  # of the 64 KB of compressed data on disk


def test_a_header_declaring_more_than_the_file_holds_costs_only_the_file(tmp_path):
    # 4 GiB declared (uint8, 2**16 x 2**16), 1 MB present: no 4 GiB allocation
    header = b"\x00\x00\x08\x02" + struct.pack(">2I", 2**16, 2**16)
    for path in (
        gzip_of_zeros(tmp_path / "short.gz", header, 1 << 20),
        write(tmp_path / "short.idx", header + bytes(1 << 20), False),
    ):
        tracemalloc.start()
        try:
            with pytest.raises(
                IDXError, match="truncated.*4294967296 data bytes, file has 1048576"
            ):
                read_idx(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 << 20


def test_parse_idx_of_bytes_streams_too(tmp_path):
    array = np.arange(12, dtype=">i4").reshape(3, 4)
    np.testing.assert_array_equal(parse_idx(gzip.compress(idx_bytes(array)), "mem"), array)
    bomb = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes(8 << 20))
    with pytest.raises(IDXError, match="mem: has trailing bytes"):
        parse_idx(bomb, "mem")


def test_trailing_garbage_after_the_gzip_stream_is_an_error(tmp_path):
    path = tmp_path / "junk.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(4, dtype=np.uint8))) + b"junk")
    with pytest.raises(IDXError, match="junk.gz"):
        read_idx(path)
