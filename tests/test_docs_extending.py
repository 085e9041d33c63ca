"""The double-backward example of docs/extending.md runs as written."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def test_double_backward_section_runs():
    section = DOC.read_text().split("### Double backward", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks
    namespace = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"docs/extending.md double-backward block {number}", "exec"), namespace)
    assert namespace["h"].shape == (5,)
