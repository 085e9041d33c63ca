"""The Python examples in README.md and docs/internals.md run as written (each file's blocks
in one namespace, in order). A python block followed directly by an ```output block must
print exactly that; the tour's figure must be what examples/internals_tour.py draws."""

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOUR = ROOT / "docs" / "internals.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)


def run_python_blocks(path):
    """Exec the python blocks of ``path``; return how many ran and how many outputs matched."""
    blocks = FENCE.findall(path.read_text())
    namespace, ran, checked = {}, 0, 0
    for (lang, body), following in zip(blocks, blocks[1:] + [("", "")]):
        if lang != "python":
            continue
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(body, f"{path.name} python block {ran}", "exec"), namespace)
        ran += 1
        if following[0] == "output":
            assert printed.getvalue().rstrip("\n") == following[1].rstrip("\n"), (
                f"{path.name} python block {ran - 1} printed something else than its output block"
            )
            checked += 1
    return ran, checked


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the quickstart saves model.npz
    ran, _ = run_python_blocks(README)
    assert ran >= 3
    assert (tmp_path / "model.npz").is_file()


def mnist_present():
    from minidl.data.mnist import data_root

    return (data_root() / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_internals_tour_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    if not mnist_present():
        pytest.skip("the tour trains on real MNIST; set MINIDL_DATA to the folder holding mnist/")
    monkeypatch.chdir(tmp_path)  # the tour writes step.svg (or step.dot) and trace.json
    ran, checked = run_python_blocks(TOUR)
    assert ran >= 10 and checked == ran
    assert (tmp_path / "trace.json").is_file()
    assert (tmp_path / "step.svg").is_file() or (tmp_path / "step.dot").is_file()


def test_the_tours_figure_is_what_its_script_draws(load_example, tmp_path):
    figure = "images/internals_graph.svg"
    assert f"]({figure})" in TOUR.read_text() and (TOUR.parent / figure).is_file()
    written = load_example("internals_tour").main(["--out", str(tmp_path)])
    assert tmp_path / "internals_graph.dot" in written
    committed = (TOUR.parent / "images" / "internals_graph.dot").read_text()
    assert (tmp_path / "internals_graph.dot").read_text() == committed, (
        "docs/images/internals_graph.* are out of date: run python examples/internals_tour.py"
    )
