import csv
import io
import json

import nbformat
import pytest

from cfmimo import sweep


def _notebook(path, params='preset = "smoke"\noverrides = {}\nscale = 1'):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [
        cell,
        nbformat.v4.new_code_cell(
            "from myst_nb import glue\nfrom cfmimo import config\n"
            "cfg = config.with_overrides(config.preset(preset), **overrides)\n"
            "glue('value', scale * cfg.system.csi_error, display=False)"
        ),
    ]
    nbformat.write(nb, path)
    return path


def _fake_execute(calls, fail_at=None):
    def execute(src, dst, parameters):
        calls.append(parameters)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt  # killed mid-sweep: nothing written for this point
        nb = nbformat.read(src, as_version=4)
        value = parameters.get("scale", 1) * parameters.get("overrides", {}).get("csi_error", 0.1)
        nb.cells[1].outputs = [
            nbformat.v4.new_output("display_data", data={"text/plain": repr(value)}, metadata={"scrapbook": {"name": "value"}})
        ]
        nbformat.write(nb, dst)

    return execute


def test_grid_points_and_names():
    points = sweep.grid_points({"a": [1, 2], "b": ["x", "y z"]})
    assert points == [{"a": 1, "b": "x"}, {"a": 1, "b": "y z"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y z"}]
    assert sweep.point_name(points[1]) == "a=1__b=y_z"


def test_sweep_routes_parameters_and_writes_summary(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), base={"scale": 2}, grid={"csi_error": [0.0, 0.5]})
    calls = []
    summary = sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    assert calls == [{"scale": 2, "overrides": {"csi_error": 0.0}}, {"scale": 2, "overrides": {"csi_error": 0.5}}]
    rows = list(csv.DictReader(io.StringIO(summary.read_text())))
    assert [(r["csi_error"], r["value"]) for r in rows] == [("0.0", "0.0"), ("0.5", "1.0")]


def test_sweep_resumes_after_kill_without_redoing_points(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"scale": [1, 2, 3]})
    calls = []
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls, fail_at=2))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ipynb")) == ["scale=1.ipynb"]
    calls2 = []
    sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls2))
    assert calls2 == [{"scale": 2}, {"scale": 3}]  # point 1 was not redone
    assert len(list(csv.DictReader(io.StringIO((tmp_path / "out" / "summary.csv").read_text())))) == 3


def test_unknown_parameter_stops_before_running(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"n_layers": [1, 2]})
    calls = []
    with pytest.raises(ValueError, match="unknown parameter 'n_layers'; known parameters: .*n_layer"):
        sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    assert calls == []


def test_invalid_value_stops_before_running(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"n_ap": [3, 0]})
    with pytest.raises(ValueError, match="n_ap = 0 is out of range"):
        sweep.run_sweep(spec, progress=False, execute=_fake_execute([]))


def test_grid_file_and_cli(tmp_path, capsys):
    nb = _notebook(tmp_path / "nb.ipynb")
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"notebook": str(nb), "output": str(tmp_path / "o"), "grid": {"bogus": [1]}}))
    assert sweep.main([str(grid), "--no-progress"]) == 2
    assert "unknown parameter 'bogus'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebook: x.ipynb\ngrid: {a: 1}\nextra: 2\n")
    with pytest.raises(ValueError, match="unknown keys \\['extra'\\]"):
        sweep.load_spec(bad)
    with pytest.raises(ValueError, match="must be a non-empty list"):
        sweep.load_spec(notebook=str(nb), grid={"scale": 3})


def test_real_execution_of_one_point(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"csi_error": [0.25]})
    summary = sweep.run_sweep(spec, progress=False)
    rows = list(csv.DictReader(io.StringIO(summary.read_text())))
    assert rows[0]["value"] == "0.25"
