"""MNIST loader on small generated files of each format, and its errors on broken ones."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from localrnn.data import load_mnist, read_idx

IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
       "t10k-labels-idx1-ubyte")


def fake(rng, n_train=7, n_test=3):
    return dict(x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                y_train=rng.integers(0, 10, n_train).astype(np.uint8),
                x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                y_test=rng.integers(0, 10, n_test).astype(np.uint8))


def idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape) + a.tobytes()


def write_idx_folder(folder: Path, d, gz=False, dotted=False):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, key in zip(IDX, ("x_train", "y_train", "x_test", "y_test")):
        if dotted:
            name = name.replace("-idx", ".idx")
        raw = idx_bytes(d[key])
        p = folder / (name + (".gz" if gz else ""))
        p.write_bytes(gzip.compress(raw) if gz else raw)
        paths.append(p)
    return paths


def check(out, d):
    assert set(out) == {"x_train", "y_train", "x_test", "y_test"}
    for split in ("train", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        assert x.dtype == np.float32 and x.shape == (len(d[f"y_{split}"]), 784)
        assert y.dtype == np.int64
        # the loader's own conversion (uint8 -> float32, / 255): one IEEE division per pixel
        np.testing.assert_array_equal(x, d[f"x_{split}"].reshape(-1, 784).astype(np.float32) / 255)
        np.testing.assert_array_equal(y, d[f"y_{split}"])
        assert 0.0 <= x.min() and x.max() <= 1.0


# --------------------------------------------------------------------------- formats
def test_npz(tmp_path, rng):
    d = fake(rng)
    np.savez(tmp_path / "m.npz", **d)
    check(load_mnist(tmp_path / "m.npz"), d)
    np.savez_compressed(tmp_path / "c.npz", **d)
    check(load_mnist(str(tmp_path / "c.npz")), d)


def test_npz_flat_images_and_float_pixels(tmp_path, rng):
    d = fake(rng)
    flat = {k: (v.reshape(len(v), 784) if k.startswith("x") else v) for k, v in d.items()}
    np.savez(tmp_path / "flat.npz", **flat)
    check(load_mnist(tmp_path / "flat.npz"), d)
    scaled = {k: (v.astype(np.float64) / 255 if k.startswith("x") else v) for k, v in d.items()}
    np.savez(tmp_path / "f01.npz", **scaled)
    out = load_mnist(tmp_path / "f01.npz", dtype="float64")
    np.testing.assert_allclose(out["x_train"], d["x_train"].reshape(-1, 784) / 255, rtol=1e-15)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
def test_idx_folder(tmp_path, rng, gz, dotted):
    d = fake(rng)
    write_idx_folder(tmp_path / "mnist", d, gz=gz, dotted=dotted)
    check(load_mnist(tmp_path / "mnist"), d)


def test_explicit_idx_paths_mixed_gzip(tmp_path, rng):
    d = fake(rng)
    paths = write_idx_folder(tmp_path, d)
    # gzip is recognised by content: a gzipped file without the .gz suffix works
    paths[1].write_bytes(gzip.compress(paths[1].read_bytes()))
    check(load_mnist(paths), d)
    check(load_mnist(dict(zip(("x_train", "y_train", "x_test", "y_test"), paths))), d)
    np.testing.assert_array_equal(read_idx(paths[0]), d["x_train"])


def test_real_mnist(shared_mnist):
    out = load_mnist(shared_mnist)
    assert out["x_train"].shape == (60000, 784) and out["x_test"].shape == (10000, 784)
    assert out["x_train"].max() == 1.0 and out["x_train"].min() == 0.0
    assert set(np.unique(out["y_test"])) == set(range(10))


# --------------------------------------------------------------------------- errors
def test_truncated_idx(tmp_path, rng):
    d = fake(rng)
    paths = write_idx_folder(tmp_path, d)
    raw = paths[0].read_bytes()
    paths[0].write_bytes(raw[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: truncated: header says shape \(7, 28, 28\)"):
        load_mnist(tmp_path)
    paths[0].write_bytes(raw[:10])
    with pytest.raises(ValueError, match="truncated IDX header"):
        load_mnist(tmp_path)
    paths[0].write_bytes(raw + b"xx")
    with pytest.raises(ValueError, match="2 bytes past the end"):
        load_mnist(tmp_path)


def test_truncated_gzip(tmp_path, rng):
    d = fake(rng)
    paths = write_idx_folder(tmp_path, d, gz=True)
    raw = paths[2].read_bytes()
    paths[2].write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: broken or truncated gzip"):
        load_mnist(tmp_path)


def test_wrong_files(tmp_path, rng):
    d = fake(rng)
    paths = write_idx_folder(tmp_path, d)
    # labels where images belong
    with pytest.raises(ValueError, match=r"x_train has shape \(7,\); expected \(n, 28, 28\)"):
        load_mnist([paths[1], paths[1], paths[2], paths[3]])
    # not an IDX file at all
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello, world" * 10)
    with pytest.raises(ValueError, match="junk: not an IDX file"):
        load_mnist([junk, paths[1], paths[2], paths[3]])
    with pytest.raises(ValueError, match="junk: not an .npz file"):
        load_mnist(junk)
    # counts that disagree
    with pytest.raises(ValueError, match=r"train split: 7 images .* but 3 labels"):
        load_mnist([paths[0], paths[3], paths[2], paths[3]])
    # a label out of range
    bad = dict(d, y_test=np.array([1, 12, 3], np.uint8))
    np.savez(tmp_path / "badlab.npz", **bad)
    with pytest.raises(ValueError, match="y_test has label 12; allowed labels are 0..9"):
        load_mnist(tmp_path / "badlab.npz")


def test_broken_npz(tmp_path, rng):
    d = fake(rng)
    np.savez(tmp_path / "m.npz", **d)
    raw = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"t.npz: not a readable .npz file"):
        load_mnist(tmp_path / "t.npz")
    np.savez(tmp_path / "partial.npz", x_train=d["x_train"], y_train=d["y_train"])
    with pytest.raises(ValueError, match=r"missing arrays \['x_test', 'y_test'\]"):
        load_mnist(tmp_path / "partial.npz")
    nan = dict(d, x_test=np.full((3, 784), np.nan))
    np.savez(tmp_path / "nan.npz", **nan)
    with pytest.raises(ValueError, match="x_test has non-finite pixel values"):
        load_mnist(tmp_path / "nan.npz")
    neg = dict(d, x_test=-np.ones((3, 784)))
    np.savez(tmp_path / "neg.npz", **neg)
    with pytest.raises(ValueError, match=r"pixel values in \[-1, -1\]"):
        load_mnist(tmp_path / "neg.npz")


def test_missing_paths(tmp_path):
    with pytest.raises(ValueError, match="nope.npz: no such file or folder"):
        load_mnist(tmp_path / "nope.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no x_train IDX file \(looked for train-images-idx3-ubyte\[.gz\]"):
        load_mnist(tmp_path / "empty")
    with pytest.raises(ValueError, match="give 4 IDX paths"):
        load_mnist([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ValueError, match="dtype='float16' is not allowed"):
        load_mnist(tmp_path, dtype="float16")


def test_a_missing_shared_file_skips_here_and_fails_under_ci(tmp_path, monkeypatch):
    from helpers import shared_file

    missing = tmp_path / "mnist.npz"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="is not present"):
        shared_file(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shared_file(missing)
    missing.write_bytes(b"")
    assert shared_file(missing) == missing
