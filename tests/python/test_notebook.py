"""docs/tsopt.ipynb runs headless from top to bottom and shows what it says it shows."""
import os
import pathlib
import subprocess

import nbformat

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "docs" / "tsopt.ipynb"


def test_notebook_runs(tmp_path):
    subprocess.run(["jupyter-nbconvert", "--to", "notebook", "--execute", str(NOTEBOOK),
                    "--output-dir", str(tmp_path), "--ExecutePreprocessor.timeout=600"],
                   check=True, capture_output=True,
                   env=dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1"))
    cells = [c for c in nbformat.read(tmp_path / NOTEBOOK.name, as_version=4).cells
             if c.cell_type == "code"]
    outputs = [o for c in cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert all(c.outputs for c in cells[1:]), "every cell after the set-up shows something"
    shown = [o.get("data", {}) for o in outputs]
    # The graphs are drawn, the run is shown as a table, bisection names the Python pass.
    assert sum("image/svg+xml" in d for d in shown) == 2
    assert any("<table>" in d.get("text/html", "") and "fold-conv-bn" in d["text/html"]
               for d in shown)
    assert any("'name': 'drop-relu'" in d.get("text/plain", "") for d in shown)
    assert any(d.get("text/html", "").startswith("<iframe") and "tsopt-viewer" in d["text/html"]
               for d in shown), "the viewer is shown in a frame"
    assert "{'folded': 20}" in [d.get("text/plain") for d in shown]
    assert [d.get("text/plain") for d in shown][-1] == "True"
