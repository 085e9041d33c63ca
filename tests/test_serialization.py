"""minidl.save / minidl.load: exact round trips, pickle-free, atomic, clear errors."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

import minidl
from minidl import nn


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Dropout(0.2), nn.Linear(8, 3))


def test_round_trip_of_a_nested_tree(tmp_path):
    obj = {
        "model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                  "b": np.array([1.5, -2.5]), "mask": np.array([True, False]),
                  "names": np.array(["ab", "c"])},
        "state": {0: {"step": 7, "exp_avg": np.ones(3, np.float16)}, 1: {"step": 8}},
        "hparams": [0.1, (0.9, 0.999), "adam", None, True, -3, 1e-300, float("inf"), 2**70],
        "scalars": (np.float32(0.5), np.float64(0.1), np.int64(2**40), np.bool_(True)),
        "tensor": minidl.tensor([1.0, 2.0]),
        "empty": {}, "": [],
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
    return (a.keys() == b.keys() and a["step"] == b["step"] and a["name"] == b["name"]
            and all(np.array_equal(a["model"][k], b["model"][k]) for k in b["model"]))


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
            local = raw[info.header_offset:info.header_offset + 30]
            start = (info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                     + int.from_bytes(local[28:30], "little"))
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
        archive.writestr("__minidl__.npy", _npy(np.frombuffer(json.dumps(header).encode(),
                                                              dtype=np.uint8)))
        archive.writestr("a0.npy", member.getvalue())
    with pytest.raises(minidl.CheckpointError, match="allow_pickle=False"):
        minidl.load(path)
    assert not _Payload.ran


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_malformed_header_is_a_checkpoint_error(tmp_path):
    for header in (b"not json", json.dumps([1, 2]).encode(),
                   json.dumps({"format": "minidl.save/1", "tree": {"array": "a9"}}).encode(),
                   json.dumps({"format": "other/2", "tree": {}}).encode()):
        path = tmp_path / "bad.npz"
        np.savez(path, __minidl__=np.frombuffer(header, dtype=np.uint8))
        with pytest.raises(minidl.CheckpointError):
            minidl.load(path)


# ---- mismatched state dicts --------------------------------------------------------
def test_mismatched_checkpoint_names_key_and_shapes_and_changes_nothing(tmp_path):
    path = tmp_path / "wide.npz"
    minidl.save(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).state_dict(),
                path)
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
    with pytest.raises(RuntimeError, match=r"missing keys: \['3.bias'\]; unexpected keys: "
                                           r"\['extra.bias'\]"):
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
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)
