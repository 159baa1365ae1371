"""``docs/python-api.md``: its ``python`` blocks run, in order, in one namespace, in an empty folder
(they use only the synthetic scene and the weight-free motion detector)."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "python-api.md"


def test_python_api_examples_run(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code = re.findall(r"^```python\n(.*?)^```$", PAGE.read_text(), re.S | re.M)
    assert len(code) >= 5
    namespace: dict = {"__name__": "python_api_doc"}
    for number, block in enumerate(code, start=1):
        exec(compile(block, f"{PAGE.name} block {number}", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "api-out/report.html").is_file()
    printed = capsys.readouterr().out
    assert "road 450 " in printed and "pass " in printed
