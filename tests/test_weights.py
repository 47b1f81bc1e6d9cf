"""Weight files and the training cache: validation, damaged entries, numpy-typed configs."""

import json
import zipfile

import numpy as np
import pytest

from cfmimo import qnn, train, weights
from cfmimo.config import SMOKE, with_overrides

TINY = with_overrides(SMOKE, n_data=2, n_epoch=2)


@pytest.fixture(scope="module")
def run():
    return train.train(TINY, "paper", rng=1)


def _rewrite(src, dst, *, meta=None, **arrays):
    """Copy weight file ``src`` to ``dst`` replacing some entries (a foreign or damaged file)."""
    with np.load(src, allow_pickle=False) as data:
        content = {k: np.array(data[k]) for k in data.files}
    if meta is not None:
        content["meta"] = np.array(json.dumps(meta))
    content.update(arrays)
    with open(dst, "wb") as fh:
        np.savez(fh, **content)
    return dst


def _meta(path):
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


def test_names_stay_importable_from_train():
    for name in ("TrainResult", "save_weights", "load_weights", "cache_key"):
        assert getattr(train, name) is getattr(weights, name)


def test_roundtrip_keeps_every_array(tmp_path, run):
    back = weights.load_weights(weights.save_weights(tmp_path / "w.npz", run))
    for name in ("weights", "loss", "min_rate", "objective", "opt_state", "flat"):
        np.testing.assert_array_equal(getattr(back, name), getattr(run, name))
    assert (back.config, back.variant, back.method, back.seed) == (run.config, run.variant, run.method, run.seed)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m, a: m.pop("config"), r"metadata lacks \['config'\]"),
        (lambda m, a: m.pop("variant"), r"metadata lacks \['variant'\]"),
        (lambda m, a: m.update(variant="quantum"), "variant = 'quantum' is unknown"),
        (lambda m, a: m.update(seed=-2), "seed must be an integer >= 0"),
        (lambda m, a: m["config"]["system"].update(n_ap=0), "n_ap = 0 is out of range"),
        (lambda m, a: m["config"]["system"].update(n_aps=4), "unknown field"),
        (lambda m, a: a.update(weights=np.zeros(3)), r"weights have shape \(3,\).*n_weights"),
        (lambda m, a: a.update(weights=np.zeros((2, 4))), "weights must be 1-d"),
        (lambda m, a: a.update(loss=np.zeros(1)), "history arrays have different lengths"),
    ],
)
def test_load_weights_rejects_bad_content(tmp_path, run, change, match):
    good = weights.save_weights(tmp_path / "good.npz", run)
    meta, arrays = _meta(good), {}
    change(meta, arrays)
    bad = _rewrite(good, tmp_path / "bad.npz", meta=meta, **arrays)
    with pytest.raises(ValueError, match=match):
        weights.load_weights(bad)


def test_weights_for_another_size_are_rejected(tmp_path, run):
    """Weights of a 4x3 run relabelled as a 3x3 run: the shape check catches it."""
    good = weights.save_weights(tmp_path / "good.npz", run)
    meta = _meta(good)
    meta["config"]["system"]["n_ap"] = 3
    bad = _rewrite(good, tmp_path / "bad.npz", meta=meta)
    with pytest.raises(ValueError, match=f"needs \\(n_weights = {qnn.n_weights(with_overrides(TINY, n_ap=3), 'paper')},\\)"):
        weights.load_weights(bad)


@pytest.mark.parametrize("damage", ["empty", "truncated", "not_zip", "missing_entry"])
def test_unreadable_files_raise_value_error(tmp_path, run, damage):
    path = weights.save_weights(tmp_path / "w.npz", run)
    data = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "not_zip":
        path.write_text("hello")
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("weights.npy", b"")
    with pytest.raises(ValueError, match="w.npz"):
        weights.load_weights(path)


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04truncated"])
def test_trained_retrains_over_an_unreadable_cache_entry(tmp_path, damage):
    first = train.trained(TINY, "paper", cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(damage)
    with pytest.warns(weights.CacheWarning, match="unreadable cache entry"):
        again = train.trained(TINY, "paper", cache_dir=tmp_path)
    np.testing.assert_array_equal(again.weights, first.weights)
    assert weights.load_weights(entry).finished  # the entry was rewritten


def test_init_of_wrong_shape_or_variant_is_rejected(run):
    with pytest.raises(ValueError, match=r"init must have shape \(n_weights"):
        train.train(TINY, "paper", init=np.zeros(qnn.n_weights(TINY, "paper") + 1))
    with pytest.raises(ValueError, match=r"init must have shape \(n_weights"):
        train.train(TINY, "reupload", init=run.weights)
    with pytest.raises(ValueError, match="different run"):
        train.train(TINY, "reupload", init=run)


def test_checkpoint_folder_is_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match="checkpoint = .* is a folder"):
        train.train(TINY, "paper", checkpoint=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_numpy_integers_in_config_save_cache_and_train(tmp_path):
    cfg = with_overrides(TINY, n_ap=np.int64(4), n_epoch=np.int32(2), csi_error=np.float64(0.1))
    assert type(cfg.system.n_ap) is int and type(cfg.training.n_epoch) is int and type(cfg.system.csi_error) is float
    assert cfg == TINY and weights.cache_key(cfg, "paper", "shift") == weights.cache_key(TINY, "paper", "shift")
    run = train.train(cfg, "paper", checkpoint=tmp_path / "c.npz")
    assert weights.load_weights(tmp_path / "c.npz").epochs_done == 2
    cached = train.trained(cfg, "paper", cache_dir=tmp_path / "cache", seed=np.int64(TINY.training.seed))
    np.testing.assert_array_equal(cached.weights, run.weights)


def test_cache_key_covers_the_run():
    base = weights.cache_key(TINY, "paper", "shift")
    assert base != weights.cache_key(TINY, "paper", "shift", seed=TINY.training.seed + 1)
    assert base != weights.cache_key(TINY, "reupload", "shift")
    assert base != weights.cache_key(with_overrides(TINY, csi_error=0.2), "paper", "shift")
    with pytest.raises(ValueError, match="variant = 'x' is unknown"):
        weights.cache_key(TINY, "x", "shift")
    with pytest.raises(ValueError, match="seed = -1"):
        weights.cache_key(TINY, "paper", "shift", seed=-1)


def test_code_fingerprint_ignores_documentation_but_not_code():
    source = '"""Module doc."""\n\nX = 1\n"""X doc."""\n\n\ndef f(a):  # a comment\n    """Doc."""\n    return a + 1\n'
    edited_docs = source.replace("Module doc.", "Other words.").replace("# a comment", "# changed").replace("X doc.", "")
    assert weights.code_fingerprint(edited_docs) == weights.code_fingerprint(source)
    assert weights.code_fingerprint(source.replace("a + 1", "a + 2")) != weights.code_fingerprint(source)
    assert weights.code_fingerprint(source.replace("X = 1", "X = 2")) != weights.code_fingerprint(source)
    # a string that is not a bare statement is code
    assert weights.code_fingerprint('y = "a"\n') != weights.code_fingerprint('y = "b"\n')


def test_source_modules_follow_the_imports_of_training():
    modules = weights.source_modules()
    for name in ("train", "scoring", "qnn", "engine", "rates", "channel", "config", "weights"):
        assert name in modules
    for name in ("notebooks", "plots", "sweep", "backends", "execution", "noise_study"):
        assert name not in modules
