import csv
import io
import json

import nbformat
import pytest

from cfmimo import sweep


def _notebook(path, params='preset = "smoke"\noverrides = {}\nscale = 1', extra=""):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [
        cell,
        nbformat.v4.new_code_cell(
            "from myst_nb import glue\nfrom cfmimo import config\n"
            "cfg = config.with_overrides(config.preset(preset), **overrides)\n"
            "glue('value', 1 / scale * cfg.system.csi_error, display=False)" + extra
        ),
    ]
    nbformat.write(nb, path)
    return path


def _fake_execute(calls, fail_at=None, error_at=None):
    def execute(src, dst, parameters):
        calls.append(parameters)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt  # killed mid-sweep: nothing written for this point
        if error_at is not None and len(calls) == error_at:
            raise RuntimeError("cell 2 raised ZeroDivisionError")
        nb = nbformat.read(src, as_version=4)
        value = parameters.get("scale", 1) * parameters.get("overrides", {}).get("csi_error", 0.1)
        nb.cells[1].outputs = [
            nbformat.v4.new_output("display_data", data={"text/plain": repr(value)}, metadata={"scrapbook": {"name": "value"}})
        ]
        nbformat.write(nb, dst)

    return execute


def _rows(summary):
    return list(csv.DictReader(io.StringIO(summary.read_text())))


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
    rows = _rows(summary)
    assert [(r["csi_error"], r["scale"], r["status"], r["value"]) for r in rows] == [("0.0", "2", "ok", "0.0"), ("0.5", "2", "ok", "1.0")]
    assert (tmp_path / "out" / "summary.png").is_file()


def test_sweep_resumes_after_kill_without_redoing_points(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"scale": [1, 2, 3]})
    calls = []
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls, fail_at=2))
    assert [p.name.split(".")[0] for p in (tmp_path / "out").glob("*.ipynb")] == ["scale=1"]
    calls2 = []
    sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls2))
    assert calls2 == [{"scale": 2}, {"scale": 3}]  # point 1 was not redone
    assert len(_rows(tmp_path / "out" / "summary.csv")) == 3


def test_other_base_settings_are_not_reused(tmp_path):
    """The reproduction of issue 12: same grid, another base setting, same folder."""
    nb = _notebook(tmp_path / "nb.ipynb")
    out = str(tmp_path / "out")
    calls = []
    first = _rows(sweep.run_sweep(sweep.load_spec(notebook=str(nb), output=out, base={"preset": "smoke"}, grid={"scale": [1]}), progress=False, execute=_fake_execute(calls)))
    second = _rows(sweep.run_sweep(sweep.load_spec(notebook=str(nb), output=out, base={"preset": "smoke", "csi_error": 1.0}, grid={"scale": [1]}), progress=False, execute=_fake_execute(calls)))
    assert calls == [{"preset": "smoke", "scale": 1}, {"preset": "smoke", "scale": 1, "overrides": {"csi_error": 1.0}}]
    assert first[0]["value"] != second[0]["value"] and second[0]["csi_error"] == "1.0" and "csi_error" not in first[0]
    assert first[0]["notebook"] != second[0]["notebook"]
    sweep.run_sweep(sweep.load_spec(notebook=str(nb), output=out, base={"preset": "smoke"}, grid={"scale": [1]}), progress=False, execute=_fake_execute(calls))
    assert len(calls) == 2  # the first setting's result is still valid and reused


def test_edited_notebook_or_foreign_file_is_not_reused(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"scale": [1]})
    calls = []
    sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    _notebook(nb, extra="\nprint('edited')")
    sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    assert len(calls) == 2
    (point,) = [p for p in (tmp_path / "out").glob("*.ipynb") if "edited" in p.read_text()]
    nbformat.write(nbformat.v4.new_notebook(), point)  # same name, no identity stamp
    sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    assert len(calls) == 3


def test_failed_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"scale": [1, 2, 3]})
    calls = []
    summary = sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls, error_at=2))
    assert len(calls) == 3
    rows = _rows(summary)
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert rows[1]["error"] == "RuntimeError: cell 2 raised ZeroDivisionError"
    assert [r["scale"] for r in sweep.failed_points(summary)] == ["2"]
    sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    assert calls[3:] == [{"scale": 2}]  # a resumed sweep retries only the failed point


def test_stale_temp_files_are_removed(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".scale=3.abc.ipynb.x1y2.partial.ipynb").write_text("{}")
    (out / ".summary.csv.x1y2.partial").write_text("")
    keep = out / "notes.txt"
    keep.write_text("mine")
    spec = sweep.load_spec(notebook=str(nb), output=str(out), grid={"scale": [1]})
    sweep.run_sweep(spec, progress=False, execute=_fake_execute([]))
    assert not list(out.glob(".*")) and keep.exists()


def test_unknown_parameter_stops_before_running(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid={"n_layers": [1, 2]})
    calls = []
    with pytest.raises(ValueError, match="unknown parameter 'n_layers'; known parameters: .*n_layer"):
        sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    assert calls == []


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        ({"n_ap": [3, 0]}, "n_ap = 0 is out of range"),
        ({"preset": ["smoke", 1]}, "preset = 1 must be a preset name"),
        ({"preset": ["smoke", "huge"]}, "preset = 'huge' is unknown"),
    ],
)
def test_invalid_value_stops_before_running(tmp_path, grid, match):
    nb = _notebook(tmp_path / "nb.ipynb")
    spec = sweep.load_spec(notebook=str(nb), output=str(tmp_path / "out"), grid=grid)
    calls = []
    with pytest.raises(ValueError, match=match):
        sweep.run_sweep(spec, progress=False, execute=_fake_execute(calls))
    assert calls == []


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


def test_bad_yaml_is_an_error_line_with_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebook: [unclosed\ngrid: {a: 1\n")
    assert sweep.main([str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: grid file") and "not valid YAML" in err and "Traceback" not in err


def test_plot_draws_chosen_values(tmp_path):
    rows = [{"x": "1", "status": "ok", "a": "1.0", "b": "2", "s": "text"}, {"x": "2", "status": "ok", "a": "3.0", "b": "1", "s": "more"}]
    assert sweep.plot_summary(rows, {"x": [1, 2]}, tmp_path / "p.png", ["a"]).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"\['zz'\] are not glued"):
        sweep.plot_summary(rows, {"x": [1, 2]}, tmp_path / "p.png", ["zz"])
    assert sweep.plot_summary(rows, {"x": [1, 2]}, tmp_path / "q.png", base={"a", "b"}) is None  # only text left


def test_real_execution_keeps_failed_notebook_and_runs_without_tcp_warning(tmp_path, capfd):
    nb = _notebook(tmp_path / "nb.ipynb")
    out = tmp_path / "out"
    grid = tmp_path / "g.yaml"
    grid.write_text(f"notebook: {nb}\noutput: {out}\ngrid:\n  scale: [4, 0]\n  csi_error: [0.25]\n")
    assert sweep.main([str(grid), "--no-progress"]) == 1
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err
    assert "ZeroDivisionError" in captured.err
    rows = _rows(out / "summary.csv")
    assert [(r["status"], r["value"]) for r in rows] == [("ok", "0.0625"), ("failed", "")]
    failed = out / rows[1]["notebook"]
    assert failed.name.endswith(".failed.ipynb") and "ZeroDivisionError" in failed.read_text()
    assert (out / "summary.png").is_file()
