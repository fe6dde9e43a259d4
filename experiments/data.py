"""MNIST for the autoencoder experiments, with a small offline stand-in.

`load_dataset` tries, in order:

1. ``idx``: a directory with the four original IDX ``.gz`` files
   (``data_dir`` argument, else ``$MNIST_DIR``);
2. ``tfds``: a tensorflow-datasets copy of ``mnist`` that is already prepared
   (read with ``tfds.data_source``; needs no TensorFlow);
3. ``download``: the four files from the MNIST mirror tfds uses, fetched by the
   tfds download manager (checksums verified) and cached in ``cache_dir``;

and, when none works, falls back to scikit-learn's 8x8 digits upscaled to
28x28, their 1,500 training digits cycled to 60,000 images so that an epoch has
as many steps as an MNIST epoch (with a warning), or raises if ``require_mnist=True``.

Images are float32 in [0, 1] with shape (N, 28, 28, 1); labels are int32 (N,).
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import math
import os
import socket
import struct
import tempfile
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np

from experiments.png import decode_gray_pngs

__all__ = [
    "Dataset",
    "FallbackWarning",
    "load_dataset",
    "load_idx_dir",
    "load_sklearn_digits",
    "network_available",
    "read_idx",
]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_NDIM = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
_GZIP_MAGIC = b"\x1f\x8b"

SIDE = 28
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
DOWNLOAD_HOST = "storage.googleapis.com"
DOWNLOAD_URL = f"https://{DOWNLOAD_HOST}/cvdf-datasets/mnist/"
DEFAULT_CACHE_DIR = Path("~/.cache/jaxlayers/mnist")
PROBE_TIMEOUT_S = 3.0
SKLEARN_TRAIN = 1500
MNIST_TRAIN = 60_000  # images in an MNIST training epoch

_log = logging.getLogger(__name__)


class FallbackWarning(RuntimeWarning):
    """MNIST could not be loaded; scikit-learn's digits stand in (also logged)."""


class SourceUnavailable(Exception):
    """A data source could not be used; the message says why."""


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train/test images float32 (N, 28, 28, 1) in [0, 1], labels int32 (N,).

    ``name`` is ``'mnist'`` or ``'sklearn-digits'``; ``source`` records where
    the data came from: ``'idx:DIR'``, ``'tfds:DIR'``, ``'download:CACHE_DIR'``
    (downloaded now or earlier) or ``'sklearn'`` (``'sklearn (1,500 cycled to
    60,000)'`` as `load_dataset` falls back).
    """

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    name: str
    source: str

    def head(self, limit: int | None) -> Dataset:
        """The first `limit` train and first min(limit, n_test) test examples."""
        if limit is None:
            return self
        return dataclasses.replace(
            self,
            x_train=self.x_train[:limit],
            x_test=self.x_test[:limit],
            y_train=self.y_train[:limit],
            y_test=self.y_test[:limit],
        )

    def cycled(self, n_train: int) -> Dataset:
        """The training images repeated in order up to `n_train` rows (test split unchanged)."""
        index = np.arange(n_train) % len(self.x_train)
        return dataclasses.replace(
            self,
            x_train=self.x_train[index],
            y_train=self.y_train[index],
            source=f"{self.source} ({len(self.x_train):,} cycled to {n_train:,})",
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, source={self.source!r}, "
            f"x_train={self.x_train.shape}, x_test={self.x_test.shape})"
        )


# --------------------------------------------------------------------- IDX


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Parse one gzip-compressed MNIST IDX file.

    Returns a read-only uint8 array: (count, rows, cols) for images (magic
    2051) or (count,) for labels (magic 2049). `expected_magic` restricts the
    file to one of the two kinds.

    Raises:
      ValueError naming `path` if the file is not gzip, is truncated or
      corrupt, has another magic number, or its payload size differs from
      the size its header declares.
    """
    if expected_magic is not None and expected_magic not in _NDIM:
        raise ValueError(
            f"expected_magic must be one of {tuple(_NDIM)} or None, got {expected_magic}"
        )
    path = Path(path)
    data = _gunzip(path)
    (magic,) = _unpack_header(data, 1, path)
    allowed = tuple(_NDIM) if expected_magic is None else (expected_magic,)
    if magic not in allowed:
        wanted = " or ".join(f"{m} ({_KIND[m]})" for m in allowed)
        raise ValueError(f"{path}: expected IDX magic number {wanted}, found {magic}")
    ndim = _NDIM[magic]
    shape = _unpack_header(data, 1 + ndim, path)[1:]
    offset = 4 * (1 + ndim)
    expected, found = math.prod(shape), len(data) - offset
    if found != expected:
        dims = "x".join(map(str, shape))
        raise ValueError(
            f"{path}: header declares {dims} = {expected} bytes of data, found {found}"
        )
    return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)


def _gunzip(path: Path) -> bytes:
    """The decompressed bytes of `path`; ValueError if it is not valid gzip."""
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        raise ValueError(
            f"{path}: not a gzip file: expected magic bytes {_GZIP_MAGIC.hex()}, "
            f"found {raw[:2].hex() or 'an empty file'}"
        )
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{path}: truncated or corrupt gzip data ({err})") from err


def _unpack_header(data: bytes, n: int, path: Path) -> tuple[int, ...]:
    """The first `n` big-endian int32 header fields of an IDX payload."""
    if len(data) < 4 * n:
        raise ValueError(
            f"{path}: expected an IDX header of at least {4 * n} bytes, found {len(data)} bytes"
        )
    return struct.unpack(f">{n}i", data[: 4 * n])


def load_idx_dir(directory: str | os.PathLike) -> Dataset:
    """MNIST from a directory holding the four original IDX ``.gz`` files.

    Raises FileNotFoundError for a missing directory or file and ValueError
    (naming the file) for corrupt or inconsistent files.
    """
    directory = Path(directory).expanduser().resolve()
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory {directory} does not exist")
    x_train, y_train = _read_split(directory, "train")
    x_test, y_test = _read_split(directory, "t10k")
    return Dataset(x_train, x_test, y_train, y_test, "mnist", f"idx:{directory}")


def _read_split(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 (N, 28, 28, 1) and labels int32 (N,) of one split."""
    images_path = directory / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = directory / f"{prefix}-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (an original MNIST IDX file)")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != (SIDE, SIDE):
        rows, cols = images.shape[1:]
        raise ValueError(f"{images_path}: expected {SIDE}x{SIDE} images, found {rows}x{cols}")
    if len(labels) != len(images):
        raise ValueError(
            f"{labels_path}: expected {len(images)} labels (one per image in "
            f"{images_path.name}), found {len(labels)}"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: expected labels 0..9, found {labels.max()}")
    return _to_unit_float(images), labels.astype(np.int32)


def _to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28[, 1]) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0).reshape(-1, SIDE, SIDE, 1)


# ------------------------------------------------------------------ sources


def _load_idx_source(directory: str | None) -> Dataset:
    """MNIST from the IDX directory named by data_dir / $MNIST_DIR."""
    if directory is None:
        raise SourceUnavailable("no directory given (pass data_dir / --data-dir or set $MNIST_DIR)")
    return load_idx_dir(directory)


def _load_tfds(data_dir: str | None, limit: int | None) -> Dataset:
    """MNIST from an already prepared tfds copy; never downloads or prepares."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise SourceUnavailable(f"tensorflow_datasets cannot be imported ({err})") from err
    builder = tfds.builder("mnist", data_dir=data_dir)
    if not (builder.data_path.exists() and builder.is_prepared()):
        raise SourceUnavailable(f"no prepared mnist in {builder.data_dir}")
    try:
        train, test = tfds.data_source(
            "mnist", split=["train", "test"], data_dir=data_dir, download=False,
            deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES,
        )
        x_train, y_train = _read_tfds_split(train, limit)
        x_test, y_test = _read_tfds_split(test, limit)
    except Exception as err:  # tfds/array_record/protobuf raise many types
        raise SourceUnavailable(
            f"cannot read mnist in {builder.data_dir}: {type(err).__name__}: {err}"
        ) from err
    return Dataset(x_train, x_test, y_train, y_test, "mnist", f"tfds:{builder.data_dir}")


def _read_tfds_split(source, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Images float32 (n, 28, 28, 1) and labels int32 (n,) of the first n records.

    Read in bulk: one `__getitems__` for the serialized records, tfds's TensorFlow-free
    `tf.train.Example` proto to parse them, and `decode_gray_pngs` for all PNGs at once.
    """
    from tensorflow_datasets.proto import tf_example_pb2

    n = len(source) if limit is None else min(limit, len(source))
    records = source.__getitems__(range(n))
    features = [tf_example_pb2.Example.FromString(record).features.feature for record in records]
    images = decode_gray_pngs([f["image"].bytes_list.value[0] for f in features])
    if images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"tfds mnist: expected {SIDE}x{SIDE} images, found {images.shape[1:]}")
    labels = np.array([f["label"].int64_list.value[0] for f in features], np.int32)
    return _to_unit_float(images), labels


def _load_download(cache_dir: Path, allow_download: bool) -> Dataset:
    """MNIST cached in `cache_dir`, downloading the four files first if needed."""
    if not all((cache_dir / name).is_file() for name in IDX_FILES):
        if not allow_download:
            raise SourceUnavailable(f"nothing cached in {cache_dir} and allow_download=False")
        if not network_available():
            raise SourceUnavailable(
                f"no network (cannot connect to {DOWNLOAD_HOST}:443, probe timeout "
                f"{PROBE_TIMEOUT_S:g} s), download skipped; nothing cached in {cache_dir}"
            )
        _download(cache_dir)
    return dataclasses.replace(load_idx_dir(cache_dir), source=f"download:{cache_dir}")


def _download(cache_dir: Path) -> None:
    """Fetch the four IDX files with tfds (sha256 checked) into `cache_dir`."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise SourceUnavailable(f"tensorflow_datasets cannot be imported ({err})") from err
    checksums_file = tfds.core.utils.tfds_path() / "url_checksums" / "mnist.txt"
    url_infos = tfds.download.checksums.load_url_infos(checksums_file)
    urls = {name: DOWNLOAD_URL + name for name in IDX_FILES}
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        manager = tfds.download.DownloadManager(
            download_dir=tmp, url_infos=url_infos, force_checksums_validation=True
        )
        try:
            paths = manager.download(urls)
        except Exception as err:  # tfds raises many types (HTTP, checksum, ...)
            raise SourceUnavailable(f"download failed: {type(err).__name__}: {err}") from err
        for name, path in paths.items():
            os.replace(path, cache_dir / name)


def network_available(
    host: str = DOWNLOAD_HOST, port: int = 443, timeout: float = PROBE_TIMEOUT_S
) -> bool:
    """Whether a TCP connection to host:port opens within `timeout` s (DNS included)."""
    opened: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(opened)


# ----------------------------------------------------------------- fallback


def load_sklearn_digits(n_train: int = SKLEARN_TRAIN) -> Dataset:
    """scikit-learn's 1,797 8x8 digits made MNIST-like: (N, 28, 28, 1) float32.

    Values 0..16 are scaled to [0, 1], each digit is resized bilinearly to
    20x20 and centred in a 28x28 zero canvas (as in MNIST). The first
    `n_train` digits are the train split, the rest the test split.
    """
    import jax
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32) / 16.0
    big = jax.image.resize(small, (len(small), 20, 20), method="linear")
    images = np.zeros((len(small), SIDE, SIDE, 1), np.float32)
    images[:, 4:24, 4:24, 0] = np.clip(np.asarray(big), 0.0, 1.0)
    labels = digits.target.astype(np.int32)
    return Dataset(
        images[:n_train],
        images[n_train:],
        labels[:n_train],
        labels[n_train:],
        "sklearn-digits",
        "sklearn",
    )


# --------------------------------------------------------------------- main


def load_dataset(
    data_dir: str | None = None,
    *,
    require_mnist: bool = False,
    tfds_data_dir: str | None = None,
    cache_dir: str | None = None,
    allow_download: bool = True,
    limit: int | None = None,
) -> Dataset:
    """MNIST from the first source that works (see the module docstring).

    Args:
      data_dir: directory with the four IDX ``.gz`` files; default ``$MNIST_DIR``.
      require_mnist: raise FileNotFoundError instead of falling back to the
        scikit-learn digits.
      tfds_data_dir: tfds data dir holding a prepared ``mnist``; default tfds's.
      cache_dir: where downloads are kept; default ``~/.cache/jaxlayers/mnist``.
      allow_download: whether to try downloading when nothing is cached.
      limit: keep only the first `limit` train and test examples.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive int or None, got {limit}")
    idx_dir = data_dir or os.environ.get("MNIST_DIR")
    cache = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    sources = [
        ("idx", idx_dir is not None, lambda: _load_idx_source(idx_dir)),
        ("tfds", tfds_data_dir is not None, lambda: _load_tfds(tfds_data_dir, limit)),
        ("download", cache_dir is not None, lambda: _load_download(cache, allow_download)),
    ]
    failures = []
    for kind, explicit, load in sources:
        try:
            dataset = load()
        except (SourceUnavailable, OSError, ValueError) as err:
            failures.append(f"{kind}: {err}")
            _log.log(
                logging.WARNING if explicit else logging.INFO,
                "MNIST source %s unusable: %s",
                kind,
                err,
            )
            continue
        _log.info("Loaded %r", dataset)
        return dataset.head(limit)
    tried = "\n".join(f"  - {failure}" for failure in failures)
    if require_mnist:
        raise FileNotFoundError(
            f"MNIST required (require_mnist=True) but no source worked; tried:\n{tried}"
        )
    digits = load_sklearn_digits()
    message = (
        f"MNIST is unavailable; FALLING BACK to scikit-learn's {len(digits.x_train) + len(digits.x_test):,} "
        "8x8 digits upscaled to 28x28 (results are not comparable with MNIST). Each epoch "
        f"cycles the {len(digits.x_train):,} training digits up to {MNIST_TRAIN:,} images, "
        "as many steps as an MNIST epoch. Tried:\n" + tried
    )
    warnings.warn(message, FallbackWarning, stacklevel=2)
    _log.warning(message)
    return digits.cycled(MNIST_TRAIN).head(limit)
