"""minidl.viz: the DOT text of the autograd graph, and drawing it with Graphviz."""

import re
import shutil

import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn, viz

NODE = re.compile(r'^  (\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$', re.M)
EDGE = re.compile(r"^  (\w+) -> (\w+);$", re.M)


def parse(dot):
    """{node id: (label lines, attributes)} and the list of (source, target) edges."""
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    nodes = {m[1]: (m[2].split("\\n"), m[3]) for m in NODE.finditer(dot)}
    edges = EDGE.findall(dot)
    assert len(nodes) + len(edges) == dot.count("\n") - 4  # nothing else in the text
    return nodes, edges


def ops(nodes):
    return {k: v for k, v in nodes.items() if k.startswith("op")}


def test_one_node_per_op_shared_results_once_edges_follow_the_data():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # used three times below: still one node
    z = (y * y + y).sum()  # Mul, Add, Sum
    nodes, edges = parse(viz.to_dot(z))
    labels = {k: v[0] for k, v in nodes.items()}
    assert sorted(label[0] for k, label in labels.items() if k.startswith("op")) == [
        "Add",
        "Exp",
        "Mul",
        "Sum",
    ]
    by_name = {label[0]: k for k, label in labels.items()}
    leaf = [k for k in nodes if not k.startswith("op")]
    assert len(leaf) == 1 and labels[leaf[0]] == ["(2,) float32"]
    exp, mul, add, total = (by_name[n] for n in ("Exp", "Mul", "Add", "Sum"))
    assert sorted(edges) == sorted(
        [(leaf[0], exp), (exp, mul), (exp, mul), (mul, add), (exp, add), (add, total)]
    )
    assert "peripheries=2" in nodes[total][1]  # the tensor we asked about is marked
    assert labels[total] == ["Sum", "() float32"]


def test_an_in_place_write_after_use_keeps_the_edges_the_ops_saw():
    x = minidl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    z = y + 1  # uses y's value before the write below
    y[0] = 5.0  # y now has a new node; z's input is still the Mul
    nodes, edges = parse(viz.to_dot(z))
    labels = {k: v[0][0] for k, v in nodes.items()}
    assert sorted(labels[k] for k in ops(nodes)) == ["Add", "Mul"]
    by_name = {label: k for k, label in labels.items()}
    assert (by_name["Mul"], by_name["Add"]) in edges


def test_mlp_graph_names_parameters_and_shows_shapes():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x = minidl.randn(4, 6, dtype=minidl.float64)
    model.double()
    loss = F.cross_entropy(model(x), minidl.tensor([0, 1, 2, 0]))
    params = dict(model.named_parameters())
    nodes, edges = parse(viz.to_dot(loss, params=params))
    labels = {k: v[0] for k, v in nodes.items()}
    assert sorted(labels[k][0] for k in ops(nodes)) == ["CrossEntropy", "Linear", "Linear", "ReLU"]
    for name, p in params.items():
        (key,) = [k for k, label in labels.items() if label[0] == name]
        assert labels[key][1] == f"{p.shape} float64"
        (target,) = [t for s, t in edges if s == key]  # each parameter feeds one Linear
        assert labels[target] == [
            "Linear",
            "(4, 5) float64" if name[0] == "0" else "(4, 3) float64",
        ]
    # without names the same leaves are labelled by shape alone
    unnamed, _ = parse(viz.to_dot(loss))
    assert ["(5, 6) float64"] in [v[0] for v in unnamed.values()]


def test_a_leaf_alone_and_bad_arguments():
    x = minidl.tensor([[1.0]], requires_grad=True)
    nodes, edges = parse(viz.to_dot(x, params={"x": x}))
    assert next(iter(nodes.values()))[0] == ["x", "(1, 1) float32"] and edges == []
    with pytest.raises(TypeError, match="expects a Tensor"):
        viz.to_dot([1.0])


def test_graph_freed_by_backward_gives_a_clear_error():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="freed by backward.*retain_graph=True"):
        viz.to_dot(loss)


def test_a_chain_of_100000_ops_is_walked_without_recursion():
    x = minidl.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    assert len(ops(parse(viz.to_dot(y))[0])) == 100_000


def test_draw_without_graphviz_writes_the_dot_file_and_says_how(tmp_path, monkeypatch):
    x = minidl.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * 3).sum()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match=r"Graphviz.*dot -Tsvg .*graph\.dot -o .*graph\.svg"):
        written = viz.draw(loss, tmp_path / "graph.svg")
    assert written == tmp_path / "graph.dot"
    assert written.read_text() == viz.to_dot(loss)
    assert not (tmp_path / "graph.svg").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["graph.dot"]  # no temporary left


def test_draw_dot_path_and_bad_paths(tmp_path):
    loss = (minidl.tensor([1.0], requires_grad=True) * 2).sum()
    assert viz.draw(loss, tmp_path / "g.dot").read_text() == viz.to_dot(loss)
    with pytest.raises(ValueError, match=r"unknown picture format '\.jpg'"):
        viz.draw(loss, tmp_path / "g.jpg")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.draw(loss, tmp_path / "no" / "g.svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_draw_renders_svg_and_png_with_graphviz(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    loss = model(minidl.randn(2, 3)).sum()
    params = dict(model.named_parameters())
    svg = viz.draw(loss, tmp_path / "g.svg", params=params)
    text = svg.read_text()
    assert svg == tmp_path / "g.svg" and "<svg" in text
    assert "0.weight" in text and "Linear" in text and "Sum" in text
    png = viz.draw(loss, tmp_path / "g.png", params=params)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "g.svg"]


@pytest.mark.gpu
def test_a_gpu_graph_draws_as_the_cpu_graph():
    if not minidl.backend.cupy_available():
        pytest.skip("needs CuPy and a CUDA GPU")
    dots = []
    for device in ("cpu", "gpu"):
        minidl.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
        loss = model(minidl.randn(5, 3, device=device)).sum()
        dots.append(viz.to_dot(loss, params=dict(model.named_parameters())))
    assert dots[0] == dots[1] and "0.weight" in dots[0]
