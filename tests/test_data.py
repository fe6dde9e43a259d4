"""Tests for experiments.data: IDX parsing, the source chain and the fallback."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from experiments import data

# The real files: $MNIST_DIR, else the shared data folder beside the repo.
MNIST_DIR = Path(
    os.environ.get("MNIST_DIR") or Path(__file__).resolve().parents[2] / "shared/data/mnist"
)
# md5 values published for the original files (listed in shared/data/mnist/README.md).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Per-digit counts of the MNIST training labels (digit '1' is the most frequent).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]

needs_mnist = pytest.mark.skipif(
    not all((MNIST_DIR / name).is_file() for name in data.IDX_FILES),
    reason=f"MNIST IDX files not found in {MNIST_DIR} (set $MNIST_DIR)",
)


# ----------------------------------------------------------------- helpers


def _idx_bytes(magic: int, array: np.ndarray, count: int | None = None) -> bytes:
    """IDX payload of a uint8 array; `count` overrides the header count."""
    dims = list(array.shape)
    dims[0] = len(array) if count is None else count
    return struct.pack(f">{1 + len(dims)}i", magic, *dims) + array.astype(np.uint8).tobytes()


def _write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def _write_idx_dir(directory: Path, n_train: int = 6, n_test: int = 4) -> dict[str, np.ndarray]:
    """Write four small valid IDX files; returns the uint8 arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        magic = data.IMAGES_MAGIC if array.ndim == 3 else data.LABELS_MAGIC
        _write_gz(directory / name, _idx_bytes(magic, array))
    return arrays


def _serialized_examples(builder, images: np.ndarray, labels) -> list[bytes]:
    """tfds's serialized records of uint8 images (n, 28, 28, 1) and labels (n,), without TensorFlow.

    Images are given as PIL images, which tfds encodes to PNG (Pillow's adaptive row filters).
    """
    from PIL import Image
    from tensorflow_datasets.core.example_serializer import ExampleSerializer

    features = builder.info.features
    serializer = ExampleSerializer(features.get_serialized_info())
    return [
        serializer.serialize_example(
            features.encode_example({"image": Image.fromarray(image[..., 0]), "label": int(label)})
        )
        for image, label in zip(images, labels, strict=True)
    ]


def _write_prepared_tfds_mnist(
    data_dir: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    """Write a tiny prepared array_record `mnist` with tfds's own APIs (no TensorFlow).

    `splits` maps split name -> (uint8 images (n, 28, 28, 1), labels (n,)).
    """
    tfds = pytest.importorskip("tensorflow_datasets")
    from array_record.python.array_record_module import ArrayRecordWriter

    builder = tfds.builder("mnist", data_dir=str(data_dir), file_format="array_record")
    out = Path(builder.data_dir)
    out.mkdir(parents=True)
    split_infos = []
    for split, (images, labels) in splits.items():
        template = tfds.core.ShardedFileTemplate(
            data_dir=out, dataset_name="mnist", split=split, filetype_suffix="array_record"
        )
        writer = ArrayRecordWriter(
            os.fspath(template.sharded_filepath(shard_index=0, num_shards=1)), "group_size:1"
        )
        for record in _serialized_examples(builder, images, labels):
            writer.write(record)
        writer.close()
        split_infos.append(
            tfds.core.SplitInfo(
                name=split, shard_lengths=[len(images)], num_bytes=0, filename_template=template
            )
        )
    builder.info.set_splits(tfds.core.SplitDict(split_infos))
    builder.info.write_to_directory(out)


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> dict[str, str]:
    """load_dataset kwargs that keep every source inside tmp_path (no ~ dirs, no $MNIST_DIR)."""
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    return {"tfds_data_dir": str(tmp_path / "tfds"), "cache_dir": str(tmp_path / "cache")}


@pytest.fixture
def offline(monkeypatch):
    """Network probe reports offline; any tfds download attempt fails the test."""
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)

    def no_download(*args, **kwargs):
        raise AssertionError("download attempted although the probe said offline")

    monkeypatch.setattr(tfds.download, "DownloadManager", no_download)


@pytest.fixture
def fake_mirror(monkeypatch):
    """Network probe says online; tfds's downloader copies files from a local folder.

    Only the HTTP transfer is replaced: tfds's DownloadManager still checks
    sizes and sha256 against its registered mnist checksums. Returns a dict
    whose "dir" entry is the folder served (default: the real MNIST folder).
    """
    pytest.importorskip("tensorflow_datasets")
    from tensorflow_datasets.core.download import checksums, downloader

    mirror = {"dir": MNIST_DIR, "urls": []}

    def copy_instead(self, url, destination_path, verify=True):
        name = url.rsplit("/", 1)[1]
        out = destination_path / name
        shutil.copyfile(mirror["dir"] / name, out)
        mirror["urls"].append(url)
        return downloader.DownloadResult(path=out, url_info=checksums.compute_url_info(out))

    monkeypatch.setattr(data, "network_available", lambda *a, **k: True)
    monkeypatch.setattr(downloader._Downloader, "_sync_download", copy_instead)
    return mirror


# ------------------------------------------------------------- real MNIST


@pytest.fixture(scope="module")
def mnist() -> data.Dataset:
    return data.load_idx_dir(MNIST_DIR)


@needs_mnist
def test_real_files_match_published_md5_and_tfds_sha256():
    tfds = pytest.importorskip("tensorflow_datasets")
    registered = tfds.download.checksums.load_url_infos(
        tfds.core.utils.tfds_path() / "url_checksums" / "mnist.txt"
    )
    for name, md5 in MNIST_MD5.items():
        raw = (MNIST_DIR / name).read_bytes()
        assert hashlib.md5(raw).hexdigest() == md5, name
        assert hashlib.sha256(raw).hexdigest() == registered[data.DOWNLOAD_URL + name].checksum, (
            name
        )


@needs_mnist
def test_real_mnist_shapes_range_and_label_counts(mnist):
    assert mnist.name == "mnist" and mnist.source == f"idx:{MNIST_DIR.resolve()}"
    assert mnist.x_train.shape == (60000, 28, 28, 1) and mnist.x_test.shape == (10000, 28, 28, 1)
    assert mnist.x_train.dtype == mnist.x_test.dtype == np.float32
    assert mnist.x_train.min() == 0.0 and mnist.x_train.max() == 1.0
    assert mnist.x_test.min() == 0.0 and mnist.x_test.max() == 1.0
    assert mnist.y_train.shape == (60000,) and mnist.y_test.shape == (10000,)
    counts = np.bincount(mnist.y_train, minlength=10)
    assert counts.sum() == 60000 and counts.argmax() == 1 and counts[1] == 6742
    assert counts.tolist() == MNIST_TRAIN_COUNTS


@needs_mnist
def test_load_dataset_uses_data_dir_then_env_with_limit(isolated, monkeypatch, mnist):
    ds = data.load_dataset(str(MNIST_DIR), limit=100, **isolated)
    assert ds.source == f"idx:{MNIST_DIR.resolve()}"
    assert ds.x_train.shape == (100, 28, 28, 1) and ds.x_test.shape == (100, 28, 28, 1)
    np.testing.assert_array_equal(ds.x_train, mnist.x_train[:100])
    np.testing.assert_array_equal(ds.y_test, mnist.y_test[:100])
    monkeypatch.setenv("MNIST_DIR", str(MNIST_DIR))
    assert data.load_dataset(limit=3, **isolated).source == ds.source


# ------------------------------------------------------------ IDX parsing


def test_read_idx_round_trip(tmp_path):
    arrays = _write_idx_dir(tmp_path)
    for name, array in arrays.items():
        np.testing.assert_array_equal(data.read_idx(tmp_path / name), array)
    ds = data.load_idx_dir(tmp_path)
    np.testing.assert_array_equal(ds.x_train[..., 0] * 255, arrays["train-images-idx3-ubyte.gz"])
    assert ds.y_test.dtype == np.int32 and ds.x_test.shape == (4, 28, 28, 1)
    assert "x_train=(6, 28, 28, 1)" in repr(ds)


def _truncated(path: Path) -> str:
    raw = gzip.compress(_idx_bytes(data.IMAGES_MAGIC, np.zeros((3, 28, 28))))
    path.write_bytes(raw[: len(raw) // 2])
    return "truncated or corrupt gzip"


def _wrong_magic(path: Path) -> str:
    _write_gz(path, _idx_bytes(2050, np.zeros((3, 28, 28))))
    return "found 2050"


def _not_gzip(path: Path) -> str:
    path.write_bytes(_idx_bytes(data.IMAGES_MAGIC, np.zeros((3, 28, 28))))
    return "not a gzip file"


def _count_exceeds_payload(path: Path) -> str:
    _write_gz(path, _idx_bytes(data.IMAGES_MAGIC, np.zeros((3, 28, 28)), count=5))
    return "5x28x28 = 3920 bytes of data, found 2352"


def _short_header(path: Path) -> str:
    _write_gz(path, struct.pack(">2i", data.IMAGES_MAGIC, 3))
    return "header of at least 16 bytes, found 8"


@pytest.mark.parametrize(
    "corrupt", [_truncated, _wrong_magic, _not_gzip, _count_exceeds_payload, _short_header]
)
def test_read_idx_rejects_corrupt_file_naming_it(tmp_path, corrupt):
    path = tmp_path / "broken-images-idx3-ubyte.gz"
    expected = corrupt(path)
    with pytest.raises(ValueError, match=path.name) as info:
        data.read_idx(path)
    assert expected in str(info.value)


def test_load_idx_dir_rejects_wrong_kind_and_mismatched_counts(tmp_path):
    arrays = _write_idx_dir(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    images = tmp_path / "train-images-idx3-ubyte.gz"
    shutil.copyfile(labels, images)
    with pytest.raises(
        ValueError, match=r"train-images.*expected IDX magic number 2051 \(images\), found 2049"
    ):
        data.load_idx_dir(tmp_path)
    _write_gz(images, _idx_bytes(data.IMAGES_MAGIC, arrays["train-images-idx3-ubyte.gz"][:5]))
    with pytest.raises(ValueError, match=r"train-labels.*expected 5 labels .* found 6"):
        data.load_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_idx_dir(tmp_path / "missing")


# ------------------------------------------------------------------- tfds


def test_tfds_prepared_copy_is_read_without_tensorflow(isolated):
    rng = np.random.default_rng(1)
    images = {
        s: rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
        for s, n in [("train", 5), ("test", 3)]
    }
    labels = {"train": np.arange(5), "test": np.array([7, 8, 9])}
    _write_prepared_tfds_mnist(
        Path(isolated["tfds_data_dir"]), {s: (images[s], labels[s]) for s in images}
    )

    ds = data.load_dataset(require_mnist=True, allow_download=False, **isolated)
    assert ds.name == "mnist" and ds.source.startswith("tfds:" + isolated["tfds_data_dir"])
    # tfds may reorder examples: compare as sets keyed by label.
    order = np.argsort(ds.y_train)
    np.testing.assert_array_equal(ds.y_train[order], labels["train"])
    np.testing.assert_array_equal(ds.x_train[order], images["train"] / np.float32(255))
    assert sorted(ds.y_test) == [7, 8, 9] and ds.x_test.dtype == np.float32

    small = data.load_dataset(limit=2, allow_download=False, **isolated)
    assert small.x_train.shape == (2, 28, 28, 1) and small.x_test.shape == (2, 28, 28, 1)


def test_tfds_reads_the_first_records_in_one_bulk_request(isolated):
    """With mock_data serving the records: one `__getitems__` per split, only `limit` records."""
    tfds = pytest.importorskip("tensorflow_datasets")
    tfds_dir = isolated["tfds_data_dir"]
    empty = (np.zeros((1, 28, 28, 1), np.uint8), [0])
    _write_prepared_tfds_mnist(Path(tfds_dir), {"train": empty, "test": empty})  # metadata only
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (7, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 7)
    records = _serialized_examples(tfds.builder("mnist", data_dir=tfds_dir), images, labels)
    requests = []

    class RawRecords:
        """What `tfds.data_source(..., deserialize_method=RAW_BYTES)` returns for a split."""

        def __len__(self) -> int:
            return len(records)

        def __getitems__(self, keys):
            requests.append(list(keys))
            return [records[k] for k in requests[-1]]

        def __getitem__(self, key):
            raise AssertionError("records read one at a time")

    def as_data_source(builder, split, decoders=None, deserialize_method=None, **kwargs):
        assert deserialize_method == tfds.decode.DeserializeMethod.RAW_BYTES
        return [RawRecords() for _ in split]

    with tfds.testing.mock_data(data_dir=tfds_dir, as_data_source_fn=as_data_source):
        ds = data.load_dataset(require_mnist=True, allow_download=False, limit=5, **isolated)
    assert requests == [[0, 1, 2, 3, 4]] * 2
    assert ds.source.startswith("tfds:") and ds.x_train.shape == ds.x_test.shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(ds.x_train, images[:5] / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, labels[:5])


# ------------------------------------------------------ offline and fallback


def test_offline_skips_download_quickly_and_require_mnist_lists_sources(isolated, offline):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        data.load_dataset(require_mnist=True, **isolated)
    assert time.perf_counter() - start < 3.0
    message = str(info.value)
    assert "require_mnist=True" in message
    assert "- idx: no directory given" in message
    assert f"- tfds: no prepared mnist in {isolated['tfds_data_dir']}" in message
    assert "- download: no network" in message and isolated["cache_dir"] in message


def test_offline_falls_back_to_sklearn_digits_loudly(isolated, offline, caplog):
    with pytest.warns(data.FallbackWarning, match="FALLING BACK to scikit-learn") as record:
        ds = data.load_dataset(**isolated)
    assert "download: no network" in str(record[0].message)
    assert any(r.levelname == "WARNING" and "FALLING BACK" in r.message for r in caplog.records)
    assert "cycles the 1,500 training digits up to 60,000 images" in str(record[0].message)
    assert (ds.name, ds.source) == ("sklearn-digits", "sklearn (1,500 cycled to 60,000)")
    # An epoch has as many images (and steps) as an MNIST epoch: the 1,500 digits, 40 times, in order.
    assert ds.x_train.shape == (60_000, 28, 28, 1) and ds.x_test.shape == (297, 28, 28, 1)
    digits = data.load_sklearn_digits()
    np.testing.assert_array_equal(ds.x_train.reshape(40, 1500, 28, 28, 1), np.stack([digits.x_train] * 40))
    np.testing.assert_array_equal(ds.y_train[1500:3000], digits.y_train)
    assert ds.x_train.dtype == np.float32 and ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    assert not ds.x_train[:, border].any()  # 20x20 digit centred in 28x28
    assert sorted(set(ds.y_test.tolist())) == list(range(10))
    with pytest.warns(RuntimeWarning):
        small = data.load_dataset(limit=10, **isolated)
    assert small.x_train.shape == small.x_test.shape == (10, 28, 28, 1)


def test_explicit_bad_data_dir_is_reported(isolated, offline, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"- idx: MNIST directory .*nowhere does not exist"):
        data.load_dataset(str(tmp_path / "nowhere"), require_mnist=True, **isolated)
    with pytest.raises(FileNotFoundError, match="allow_download=False"):
        data.load_dataset(require_mnist=True, allow_download=False, **isolated)


def test_limit_must_be_positive(isolated):
    with pytest.raises(ValueError, match="limit must be a positive int"):
        data.load_dataset(limit=0, **isolated)


def test_network_probe_is_fast_and_correct():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert data.network_available("127.0.0.1", port, timeout=1.0)
    start = time.perf_counter()
    assert not data.network_available("127.0.0.1", port, timeout=1.0)  # closed now
    assert not data.network_available("host.invalid", 443, timeout=1.0)
    assert time.perf_counter() - start < 2.5


# --------------------------------------------------------------- download


@needs_mnist
def test_download_verifies_checksums_caches_and_reuses(isolated, fake_mirror, monkeypatch, mnist):
    ds = data.load_dataset(require_mnist=True, limit=50, **isolated)
    cache = Path(isolated["cache_dir"])
    assert ds.source == f"download:{cache}" and ds.x_train.shape == (50, 28, 28, 1)
    np.testing.assert_array_equal(ds.x_test, mnist.x_test[:50])
    assert sorted(fake_mirror["urls"]) == sorted(data.DOWNLOAD_URL + n for n in data.IDX_FILES)
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.IDX_FILES)  # temp dir removed

    monkeypatch.setattr(data, "network_available", lambda *a, **k: False)
    again = data.load_dataset(require_mnist=True, **isolated)
    assert again.source == ds.source and again.x_train.shape == (60000, 28, 28, 1)
    assert len(fake_mirror["urls"]) == 4  # served from the cache, nothing fetched


def test_download_with_wrong_checksum_is_rejected(isolated, fake_mirror, tmp_path):
    fake_mirror["dir"] = tmp_path / "mirror"
    _write_idx_dir(fake_mirror["dir"])  # valid IDX files, but not the registered bytes
    with pytest.raises(
        FileNotFoundError, match="- download: download failed: NonMatchingChecksumError"
    ):
        data.load_dataset(require_mnist=True, **isolated)
    assert not any((Path(isolated["cache_dir"]) / name).exists() for name in data.IDX_FILES)
