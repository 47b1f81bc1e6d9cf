"""cfmimo.timing: the committed benchmark files the notebooks quote."""

import json

import pytest

from cfmimo import timing


def test_load_benchmark_reads_the_ratios(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"ratios": {"a_over_b": 2.5}, "note": "x"}))
    assert timing.load_benchmark(path)["ratios"]["a_over_b"] == 2.5


@pytest.mark.parametrize("text", ["", "{not json", json.dumps({"rows": []}), json.dumps([1, 2])])
def test_load_benchmark_rejects_other_files(tmp_path, text):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="path = "):
        timing.load_benchmark(path)


def test_load_benchmark_names_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="missing.json"):
        timing.load_benchmark(tmp_path / "missing.json")


def test_the_committed_peer_benchmark_has_the_ratios_the_book_quotes():
    from pathlib import Path

    data = timing.load_benchmark(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "bench_peers.json")
    for name in ("workload8_B100_engine_over_pl_jax_jacobian", "workload8_B1000_engine_over_pl_jax_jacobian",
                 "ap1_16x8_B100_aer_forward_over_engine_jacobian"):
        assert name in data["ratios"]
