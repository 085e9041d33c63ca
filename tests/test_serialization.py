"""minidl.save / minidl.load: exact round trips, pickle-free, atomic, clear errors."""

import io
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import minidl
from minidl import nn


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.2), nn.Linear(8, 3))


def test_round_trip_of_a_nested_tree(tmp_path):
    obj = {
        "model": {
            "w": np.arange(6, dtype=np.float32).reshape(2, 3),
            "b": np.array([1.5, -2.5]),
            "mask": np.array([True, False]),
            "names": np.array(["ab", "c"]),
        },
        "state": {0: {"step": 7, "exp_avg": np.ones(3, np.float16)}, 1: {"step": 8}},
        "hparams": [0.1, (0.9, 0.999), "adam", None, True, -3, 1e-300, float("inf"), 2**70],
        "scalars": (np.float32(0.5), np.float64(0.1), np.int64(2**40), np.bool_(True)),
        "tensor": minidl.tensor([1.0, 2.0]),
        "empty": {},
        "": [],
    }
    path = tmp_path / "tree.npz"
    minidl.save(obj, path)
    back = minidl.load(path)
    assert set(back) == set(obj)
    assert list(back["state"]) == [0, 1] and back["state"][1] == {"step": 8}
    assert back["state"][0]["step"] == 7 and type(back["state"][0]["step"]) is int
    assert back["hparams"] == obj["hparams"]
    assert [type(v) for v in back["hparams"]] == [type(v) for v in obj["hparams"]]
    assert isinstance(back["hparams"][1], tuple)
    for key, value in obj["model"].items():
        assert back["model"][key].dtype == value.dtype
        np.testing.assert_array_equal(back["model"][key], value)
    assert back["state"][0]["exp_avg"].dtype == np.float16
    for ours, theirs in zip(back["scalars"], obj["scalars"]):
        assert type(ours) is type(theirs) and ours == theirs
    np.testing.assert_array_equal(back["tensor"], [1.0, 2.0])
    assert back["empty"] == {} and back[""] == []


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="object arrays"):
        minidl.save({"a": np.array([1, "x"], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"cannot save an object of type set at obj\['s'\]"):
        minidl.save({"s": {1, 2}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be str or int"):
        minidl.save({(1, 2): 3}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_model_outputs_reproduce_exactly(tmp_path):
    minidl.manual_seed(0)
    model = mlp().eval()
    x = minidl.randn(5, 4)
    expected = model(x).numpy()
    minidl.save(model.state_dict(), tmp_path / "model.npz")
    minidl.manual_seed(1)
    fresh = mlp().eval()
    assert not np.array_equal(fresh(x).numpy(), expected)
    fresh.load_state_dict(minidl.load(tmp_path / "model.npz"))
    np.testing.assert_array_equal(fresh(x).numpy(), expected)
    assert all(p.dtype == np.float32 for p in fresh.parameters())


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "m.npz"
    minidl.save({"w": np.ones(2)}, path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(bytes(archive["__minidl__"]).decode())
        assert header["format"] == "minidl.save/1"
        np.testing.assert_array_equal(archive[header["tree"]["dict"][0][1]["array"]], [1, 1])


# ---- damaged files -----------------------------------------------------------------
def saved_bytes(tmp_path):
    path = tmp_path / "good.npz"
    minidl.save({"model": nn.Linear(3, 2).state_dict(), "step": 3, "name": "run"}, path)
    return path.read_bytes(), minidl.load(path)


def same(a, b):
    return (
        a.keys() == b.keys()
        and a["step"] == b["step"]
        and a["name"] == b["name"]
        and all(np.array_equal(a["model"][k], b["model"][k]) for k in b["model"])
    )


def test_every_truncation_is_detected(tmp_path):
    raw, _ = saved_bytes(tmp_path)
    path = tmp_path / "cut.npz"
    for size in range(len(raw)):
        path.write_bytes(raw[:size])
        with pytest.raises(minidl.CheckpointError):
            minidl.load(path)


def member_data_offsets(raw):
    """Byte positions of the members' contents (.npy headers and array data)."""
    positions = set()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for info in archive.infolist():
            local = raw[info.header_offset : info.header_offset + 30]
            start = (
                info.header_offset
                + 30
                + int.from_bytes(local[26:28], "little")
                + int.from_bytes(local[28:30], "little")
            )
            positions.update(range(start, start + info.compress_size))
    return positions


def test_every_flipped_byte_is_detected_or_harmless(tmp_path):
    raw, original = saved_bytes(tmp_path)
    contents = member_data_offsets(raw)
    assert len(contents) > len(raw) / 3
    path = tmp_path / "flipped.npz"
    for i in range(len(raw)):
        damaged = bytearray(raw)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            back = minidl.load(path)
        except minidl.CheckpointError:
            continue
        # zip metadata such as timestamps can change without harm; contents cannot
        assert i not in contents, f"flipped content byte {i} went unnoticed"
        assert same(back, original), f"flipped byte {i} changed what was loaded"


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not a zip file at all")
    with pytest.raises(minidl.CheckpointError, match="not a minidl checkpoint"):
        minidl.load(text)
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(3))
    with pytest.raises(minidl.CheckpointError, match="not a minidl checkpoint"):
        minidl.load(npy)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    with pytest.raises(minidl.CheckpointError, match="no header"):
        minidl.load(plain)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        minidl.load(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError, match="a folder, not a checkpoint"):
        minidl.load(tmp_path)


class _Payload:
    """Unpickling this would run code: it must never happen."""

    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Payload.ran = True
    return "ran"


def test_pickle_bearing_npz_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    header = {"format": "minidl.save/1", "tree": {"dict": [["w", {"array": "a0"}]]}}
    member = io.BytesIO()
    np.save(member, np.array([_Payload()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "__minidl__.npy", _npy(np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
        )
        archive.writestr("a0.npy", member.getvalue())
    with pytest.raises(minidl.CheckpointError, match="allow_pickle=False"):
        minidl.load(path)
    assert not _Payload.ran


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_malformed_header_is_a_checkpoint_error(tmp_path):
    for header in (
        b"not json",
        json.dumps([1, 2]).encode(),
        json.dumps({"format": "minidl.save/1", "tree": {"array": "a9"}}).encode(),
        json.dumps({"format": "other/2", "tree": {}}).encode(),
    ):
        path = tmp_path / "bad.npz"
        np.savez(path, __minidl__=np.frombuffer(header, dtype=np.uint8))
        with pytest.raises(minidl.CheckpointError):
            minidl.load(path)


# ---- mismatched state dicts --------------------------------------------------------
def test_mismatched_checkpoint_names_key_and_shapes_and_changes_nothing(tmp_path):
    path = tmp_path / "wide.npz"
    minidl.save(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).state_dict(), path)
    model = mlp()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(minidl.load(path))
    message = str(info.value)
    assert "0.weight: checkpoint has shape (16, 4), the model has shape (8, 4)" in message
    assert "3.weight" in message and "2.weight" in message  # missing and unexpected
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "m.npz"
    state = dict(mlp().state_dict())
    state["extra.bias"] = np.zeros(3)
    del state["3.bias"]
    minidl.save(state, path)
    model = mlp()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(
        RuntimeError,
        match=r"missing keys: \['3.bias'\]; unexpected keys: "
        r"\['extra.bias'\]",
    ):
        model.load_state_dict(minidl.load(path))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


# ---- atomic writes -----------------------------------------------------------------
def test_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    minidl.save({"step": 1, "w": np.ones(3)}, path)
    old = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        minidl.save({"step": 2, "w": np.zeros(3)}, path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert minidl.load(path)["step"] == 1


def test_save_replaces_and_keeps_the_exact_path(tmp_path):
    path = tmp_path / "ckpt"  # no .npz appended
    minidl.save({"step": 1}, path)
    minidl.save({"step": 2}, str(path))
    assert os.listdir(tmp_path) == ["ckpt"]
    assert minidl.load(path) == {"step": 2}


# ---- permissions and paths ---------------------------------------------------------
@pytest.fixture
def umask():
    """Set the process umask for one test, restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path):
    return oct(os.stat(path).st_mode & 0o777)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_honours_the_umask_like_open(tmp_path, umask, mask, expected):
    umask(mask)
    minidl.save({"step": 1}, tmp_path / "new.npz")
    with open(tmp_path / "by_open", "w"):
        pass
    assert mode(tmp_path / "new.npz") == mode(tmp_path / "by_open") == oct(expected)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("private", [0o600, 0o640, 0o400])
def test_saving_over_a_file_keeps_its_mode(tmp_path, umask, private):
    # was: forced to 0644, so a checkpoint made private became world-readable
    umask(0o022)
    path = tmp_path / "ckpt.npz"
    minidl.save({"step": 1}, path)
    os.chmod(path, private)
    minidl.save({"step": 2}, path)
    assert mode(path) == oct(private) and minidl.load(path) == {"step": 2}


def test_saving_into_a_missing_folder_names_the_requested_path(tmp_path):
    path = tmp_path / "no" / "such" / "folder" / "ckpt.npz"
    with pytest.raises(FileNotFoundError) as info:
        minidl.save({"step": 1}, path)
    assert info.value.filename == str(path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert "folder does not exist" in str(info.value)


def test_saving_onto_a_folder_or_into_a_file_names_the_path(tmp_path):
    with pytest.raises(IsADirectoryError, match="folder") as info:
        minidl.save({"step": 1}, tmp_path)
    assert info.value.filename == str(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        minidl.save({"step": 1}, tmp_path / "file" / "ckpt.npz")
    assert info.value.filename == str(tmp_path / "file" / "ckpt.npz")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_arrays_of_every_plain_kind_and_layout_round_trip(tmp_path):
    obj = {
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "strided": np.arange(10)[::3],
        "strings": np.array(["ab", "", "héllo"]),
        "bytes": np.array([b"x", b"yz"]),
        "dates": np.array(["2024-01-02"], "M8[D]"),
        "complex": np.array([1 + 2j], np.complex64),
        "big_endian": np.arange(3, dtype=">i4"),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.float16(1.5),
    }
    minidl.save(obj, tmp_path / "kinds.npz")
    back = minidl.load(tmp_path / "kinds.npz")
    for key, value in obj.items():
        assert back[key].dtype == value.dtype and back[key].shape == np.shape(value), key
        np.testing.assert_array_equal(back[key], value)
    assert back["fortran"].flags.writeable and back["strided"].flags.writeable


def test_save_refuses_structured_arrays_and_objects_nested_without_end(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        minidl.save({"r": np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])}, tmp_path / "x.npz")
    loop = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        minidl.save(loop, tmp_path / "x.npz")
    deep = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        minidl.save(deep, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


# ---- hostile files: load accepts only what save writes -----------------------------
def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """A zip of {name: bytes} members."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def header_bytes(tree):
    return _npy(
        np.frombuffer(
            json.dumps({"format": "minidl.save/1", "tree": tree}).encode(), dtype=np.uint8
        )
    )


def npy_declaring(shape, dtype="<f8", data=b"\0" * 16):
    """A .npy member whose header declares ``shape`` whatever ``data`` it holds."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


ONE_ARRAY = {"dict": [["w", {"array": "a0"}]]}


def load_peak(path):
    """(what load raised, the peak of Python allocations during it, in bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(minidl.CheckpointError) as info:
            minidl.load(path)
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_compressed_members_are_refused_before_inflating(tmp_path, compression):
    # 32 MB of zeros compress to some KB (bzip2: a few hundred bytes); loading used to
    # inflate them all
    bomb = _npy(np.zeros(4 << 20))
    path = write_zip(
        tmp_path / "bomb.npz",
        {"__minidl__.npy": header_bytes(ONE_ARRAY), "a0.npy": bomb},
        compression,
    )
    assert path.stat().st_size < 100_000
    error, peak = load_peak(path)
    assert "is compressed" in str(error) and "stored members only" in str(error)
    assert peak < 1 << 20


def test_a_huge_declared_shape_is_a_checkpoint_error_not_a_memory_error(tmp_path):
    path = write_zip(
        tmp_path / "huge.npz",
        {"__minidl__.npy": header_bytes(ONE_ARRAY), "a0.npy": npy_declaring((2**50,))},
    )
    error, peak = load_peak(path)
    assert "declares float64 (1125899906842624,) (9007199254740992 bytes) but holds 16" in str(
        error
    )
    assert peak < 1 << 20


@pytest.mark.parametrize(
    "shape, dtype, data, match",
    [
        ((3,), "<f8", b"\0" * 16, r"declares float64 \(3,\) \(24 bytes\) but holds 16"),
        ((2**40, 2**40), "<f4", b"", "declares float32"),  # product beyond int64: no wrap
        ((1,), "<U10000000", b"\0" * 4, "declares <U10000000 .*40000000 bytes"),
        ((1,), "|V8", b"\0" * 8, "dtype |V8, which minidl.save never writes"),
        ((2,), "|O", b"\0" * 16, "Python objects"),
    ],
)
def test_declared_sizes_and_dtypes_are_checked_against_the_member(
    tmp_path, shape, dtype, data, match
):
    path = write_zip(
        tmp_path / "bad.npz",
        {"__minidl__.npy": header_bytes(ONE_ARRAY), "a0.npy": npy_declaring(shape, dtype, data)},
    )
    with pytest.raises(minidl.CheckpointError, match=match):
        minidl.load(path)


@pytest.mark.parametrize("depth", [5000, 200_000])
def test_a_deeply_nested_header_is_a_checkpoint_error_not_a_recursion_error(tmp_path, depth):
    tree = '{"list": [' * depth + "]}" * depth
    text = '{"format": "minidl.save/1", "tree": ' + tree + "}"
    path = write_zip(
        tmp_path / "deep.npz",
        {"__minidl__.npy": _npy(np.frombuffer(text.encode(), dtype=np.uint8))},
    )
    with pytest.raises(minidl.CheckpointError, match="nested deeper than 64 levels"):
        minidl.load(path)


def test_nesting_inside_json_strings_does_not_count(tmp_path):
    obj = {"note": "[[[[{{{{" * 1000, "deep": [[[[1]]]], 'quote"[': r"\"[[[["}
    minidl.save(obj, tmp_path / "ok.npz")
    assert minidl.load(tmp_path / "ok.npz") == obj


def test_a_tree_deeper_than_save_writes_is_refused(tmp_path):
    tree = {"value": 1}
    for _ in range(70):
        tree = {"list": [tree]}
    path = write_zip(tmp_path / "deep.npz", {"__minidl__.npy": header_bytes(tree)})
    with pytest.raises(minidl.CheckpointError, match="nested deeper than 64"):
        minidl.load(path)


@pytest.mark.parametrize(
    "members, tree, match",
    [
        (
            {"a0.npy": _npy(np.ones(2)), "a1.npy": _npy(np.ones(3))},
            ONE_ARRAY,
            r"members \['a1'\] are not part of the saved object",
        ),
        (
            {"a0.npy": _npy(np.ones(2)), "notes.txt": b"hello"},
            ONE_ARRAY,
            "unexpected member 'notes.txt'",
        ),
        (
            {"a0.npy": _npy(np.ones(2))},
            {"list": [{"array": "a0"}, {"array": "a0"}]},
            "refers to member 'a0' twice",
        ),
        ({}, ONE_ARRAY, "refers to a missing member 'a0'"),
        ({"a0.npy": _npy(np.ones(2))}, {"scalar": "a0"}, r"scalar member 'a0' has shape \(2,\)"),
        ({}, {"dict": [[True, {"value": 1}]]}, "malformed dict item"),
        ({}, {"dict": [["k"]]}, "malformed dict item"),
        ({}, {"value": {"nested": "object"}}, "malformed tree node"),
        ({}, {"list": [], "tuple": []}, "malformed tree node"),
        ({}, {"array": 3}, "malformed tree node"),
        ({}, ["not", "a", "node"], "malformed tree node"),
    ],
)
def test_members_are_read_only_when_the_tree_names_them_once(tmp_path, members, tree, match):
    path = write_zip(tmp_path / "odd.npz", {"__minidl__.npy": header_bytes(tree), **members})
    with pytest.raises(minidl.CheckpointError, match=match):
        minidl.load(path)


def test_a_header_that_is_not_bytes_is_refused(tmp_path):
    path = write_zip(tmp_path / "h.npz", {"__minidl__.npy": _npy(np.ones(3))})
    with pytest.raises(minidl.CheckpointError, match="header is float64"):
        minidl.load(path)


def test_an_extra_member_in_a_saved_file_is_refused(tmp_path):
    path = tmp_path / "ckpt.npz"
    minidl.save({"w": np.ones(3)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("a7.npy", _npy(np.zeros(10)))
    with pytest.raises(minidl.CheckpointError, match=r"\['a7'\] are not part"):
        minidl.load(path)


def test_paths_may_be_str_bytes_or_pathlike(tmp_path):
    minidl.save({"step": 1}, os.fsencode(tmp_path / "b.npz"))
    assert minidl.load(os.fsencode(tmp_path / "b.npz")) == {"step": 1}
    assert minidl.load(str(tmp_path / "b.npz")) == minidl.load(tmp_path / "b.npz")
    with pytest.raises(TypeError):
        minidl.save({"step": 1}, 3)


@pytest.mark.skipif(os.name != "posix", reason="POSIX symbolic links")
def test_saving_to_a_symbolic_link_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real.npz"
    minidl.save({"step": 1}, target)
    os.chmod(target, 0o600)
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    minidl.save({"step": 2}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert minidl.load(target) == {"step": 2} and mode(target) == oct(0o600)
    assert sorted(os.listdir(tmp_path / "store")) == ["real.npz"]
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "store" / "new.npz")
    minidl.save({"step": 3}, dangling)
    assert minidl.load(tmp_path / "store" / "new.npz") == {"step": 3} and dangling.is_symlink()
