"""Run every notebook in ``notebooks/`` top to bottom on the real data, and check none is committed
with outputs.

The notebooks read the official datasets through the library (``$HEART_GEO_DATA``); without
them the execution tests skip with the reason. Notebooks are executed in memory with nbclient and
never written back to the repository; a failing notebook is saved, with its outputs, under
pytest's tmp_path for inspection.

Needs ``nbclient``, ``nbformat`` and ``ipykernel`` (the ``notebooks`` extra) plus matplotlib. No
``jupyter kernelspec`` or ``ipykernel install`` step is needed: the test writes a ``python3``
kernelspec for the running interpreter into a temporary folder, so the kernel always runs the same
Python (and the same heart_geo) as pytest.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT_S = 600
KERNEL = "python3"


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A python3 kernelspec for this interpreter, found first, and the repository on PYTHONPATH."""
    from ipykernel.kernelspec import write_kernel_spec

    jupyter_path = tmp_path / "jupyter"
    write_kernel_spec(jupyter_path / "kernels" / KERNEL)
    old = os.environ.get("JUPYTER_PATH")
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(jupyter_path), old])))
    # the kernel imports heart_geo from this checkout even when the package is not installed
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), old])))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # let the kernel use its inline backend
    return jupyter_path


@pytest.mark.notebooks
@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
@pytest.mark.usefixtures("data_dir")  # skipped without the official datasets
def test_notebook_runs(path: Path, kernel_env, tmp_path, record_property):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks")
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    assert Path(spec.resource_dir).is_relative_to(kernel_env), spec.resource_dir

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name=KERNEL,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # cwd of the kernel
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        out = tmp_path / path.name
        nbformat.write(nb, out)
        pytest.fail(f"{path.name}: a cell raised (executed copy in {out}):\n{exc}", pytrace=False)
    finally:
        record_property("seconds", round(time.perf_counter() - start, 1))
    errors = [
        (i, o.get("ename"), o.get("evalue"))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: cells with errors: {errors}"
    assert all(
        c.get("execution_count") is not None
        for c in nb.cells
        if c.cell_type == "code" and c.source.strip()
    ), f"{path.name}: not every code cell ran"


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path: Path):
    """Notebooks hold code only: outputs could carry data derived from the official datasets."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them"
    assert nb["metadata"].get("kernelspec", {}).get("name") == KERNEL
