"""The course notebook, examples/fully_connected_networks.ipynb, executed top to bottom in quick mode by a
Jupyter kernel (``python3``, nbclient), as CI runs it: any cell that raises fails the test, and so does a
cell that runs longer than its timeout. Its committed form carries no outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import minifc

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "fully_connected_networks.ipynb"
CELL_TIMEOUT_S = 120


def test_the_committed_notebook_has_no_outputs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.subprocess
def test_the_notebook_runs_in_quick_mode_without_an_error(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs pip install 'minifc[notebook]'")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs pip install 'minifc[notebook]'")
    pytest.importorskip("ipykernel", reason="the notebook test needs pip install 'minifc[notebook]'")
    pytest.importorskip("matplotlib", reason="the notebook plots with matplotlib")
    # the kernel inherits this environment: quick mode, synthetic data (no CIFAR-10 folder, an empty
    # cache), the minifc these tests import, and matplotlib's inline backend rather than a forced Agg
    monkeypatch.setenv("MINIFC_NOTEBOOK_QUICK", "1")
    monkeypatch.delenv("MINIFC_DATA", raising=False)
    monkeypatch.setenv("MINIFC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    path = [str(Path(minifc.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]  # the minifc tested here
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "QUICK = True" in text and "synthetic clusters" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # the plots, inline (no grid of images)
    ends = [line.split()[-1] for line in text.splitlines() if "error" in line]
    errors = [float(end) for end in ends if end[0].isdigit()]
    assert errors and max(errors) < 1e-6, text  # every gradient check passes
