"""Pictures of the autograd graph: the Graphviz DOT source, and an SVG/PNG drawn from it.

Every Tensor made by an op remembers that op (``t.grad_fn``, a Function instance), and the
op remembers its input Tensors (``node.inputs``). Walking those links back from a loss
visits the whole computation that produced it::

    loss = F.cross_entropy(model(x), y)
    print(minidl.viz.to_dot(loss, params=dict(model.named_parameters())))
    minidl.viz.draw(loss, "graph.svg", params=dict(model.named_parameters()))

In the picture each op is a box (its Function's name, its output's shape and dtype), each
leaf an ellipse: a parameter by its name, any other tensor by its shape (dashed when it
does not require grad, like a batch of data); arrows point the way data flows, from the
inputs to the loss, whose box is drawn twice-framed. Draw the graph before
``backward()``, which frees it (or call ``backward(retain_graph=True)``).
"""

import shutil
import subprocess
import warnings
from pathlib import Path

from . import autograd
from .atomic_write import atomic_write
from .tensor import Tensor

__all__ = ["to_dot", "draw"]

_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
_RENDER_TIMEOUT_S = 120


def _quote(text):
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def _describe(tensor):
    return f"{tuple(tensor.shape)} {tensor.dtype}"


def _inputs(node):
    """(input Tensor, the node that had made it when ``node`` was made) per input of an op;
    the node is None for a leaf, the Tensor None for an argument that was not a Tensor. (An
    in-place op may since have given the Tensor a new node: the edge goes to the old one.)"""
    inputs = node.inputs
    if inputs is autograd._FREED:
        raise RuntimeError(
            f"to_dot: the graph through {type(node).__name__} was freed by backward(); draw "
            "it before calling backward(), or pass retain_graph=True to backward()"
        )
    return zip(inputs, node.parents)


def to_dot(tensor, params=None):
    """The Graphviz DOT source (a str) of the graph that produced ``tensor``.

    ``params``: optional mapping name -> Tensor (``dict(model.named_parameters())``) whose
    tensors are labelled by name. The walk is iterative, so graphs of any depth work.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot expects a Tensor, got {type(tensor).__name__}")
    names = {id(t): name for name, t in (params or {}).items()}
    ids = {}  # id(op node or leaf tensor) -> DOT node id
    keep, ops = [], []  # the leaves and op nodes behind those ids (alive while we walk)
    nodes, edges = [], []

    def leaf_id(t):
        key = id(t)
        if key not in ids:
            ids[key] = f"t{len(ids) - len(ops)}"
            keep.append(t)
            name = names.get(key)
            label = _describe(t) if name is None else f"{name}\n{_describe(t)}"
            style = (
                "style=filled, fillcolor=lightblue"
                if name is not None
                else ""
                if t.requires_grad
                else "style=dashed"
            )
            nodes.append(
                f"  {ids[key]} [label={_quote(label)}, shape=ellipse"
                f"{', ' + style if style else ''}];"
            )
        return ids[key]

    if tensor.grad_fn is None:
        leaf_id(tensor)
    else:
        root = tensor.grad_fn
        ids[id(root)] = "op0"
        ops.append(root)
        stack = [(root, tensor)]  # (op node, a tensor it produced)
        while stack:
            node, output = stack.pop()
            label = f"{type(node).__name__}\n{_describe(output)}"
            extra = ", peripheries=2" if node is root else ""
            nodes.append(f"  {ids[id(node)]} [label={_quote(label)}{extra}];")
            for t, parent in _inputs(node):
                if t is None:
                    continue
                if parent is None:
                    source = leaf_id(t)
                else:
                    if id(parent) not in ids:
                        ids[id(parent)] = f"op{len(ops)}"
                        ops.append(parent)
                        stack.append((parent, t))
                    source = ids[id(parent)]
                edges.append(f"  {source} -> {ids[id(node)]};")
    header = [
        "digraph minidl {",
        "  rankdir=TB;",
        '  node [shape=box, fontname="Helvetica", fontsize=11];',
    ]
    return "\n".join(header + nodes + edges + ["}"]) + "\n"


def draw(tensor, path, params=None):
    """Render the graph of ``tensor`` to ``path`` (.svg, .png or .pdf) with Graphviz.

    Without Graphviz's ``dot`` program (or for a ``.dot`` path) it writes the DOT source
    next to ``path`` instead and warns how to render it. Returns the Path written.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"draw: the folder {path.parent} does not exist")
    source = to_dot(tensor, params)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None and path.suffix.lower() != ".dot":
        raise ValueError(
            f"draw: unknown picture format {path.suffix!r} in {path}; use .svg, .png, .pdf or .dot"
        )
    dot = shutil.which("dot")
    if fmt is None or dot is None:
        dot_path = path.with_suffix(".dot")
        atomic_write(dot_path, lambda tmp: Path(tmp).write_text(source))
        if fmt is not None:
            warnings.warn(
                f"draw: Graphviz's `dot` program was not found, so the graph went to "
                f"{dot_path} instead of {path}. Install Graphviz (apt install graphviz, "
                f"brew install graphviz, conda install graphviz) and run: "
                f"dot -T{fmt} {dot_path} -o {path}",
                stacklevel=2,
            )
        return dot_path

    def render(tmp):
        try:
            subprocess.run(
                [dot, f"-T{fmt}", "-o", tmp],
                input=source.encode(),
                capture_output=True,
                check=True,
                timeout=_RENDER_TIMEOUT_S,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"draw: dot failed ({exc.returncode}): "
                f"{exc.stderr.decode(errors='replace').strip()}"
            ) from None
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"draw: dot took longer than {_RENDER_TIMEOUT_S} s (the graph is large); "
                f"write the source with draw(tensor, '{path.with_suffix('.dot')}') and "
                "render it yourself, or draw a smaller part of the computation"
            ) from None

    atomic_write(path, render)
    return path
