"""Fashion-MNIST, offline first: Debian's `dataset-fashion-mnist`, then keras.datasets."""

import gzip
import os

import numpy as np

from tlkeras.errors import ConfigurationError

DEBIAN_FOLDER = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _read_idx(path, header_bytes):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header_bytes)


def load_fashion_mnist(split="train", folder=None):
    """Returns `(images, labels)`: uint8 `(n, 28, 28)` and int64 `(n,)`.

    Reads the idx files from `folder`, else `$TLKERAS_FASHION_MNIST`, else
    Debian's `/usr/share/datasets/fashion-mnist` (`apt-get install
    dataset-fashion-mnist`); with none of them, downloads through
    `keras.datasets.fashion_mnist` (needs network).

    Args:
        split: `"train"` (60,000 images) or `"test"` (10,000). Defaults to `"train"`.
        folder: a folder with the four `.gz` idx files. Defaults to `None`.
    """
    if split not in _FILES:
        raise ConfigurationError(
            f"Unknown split. Received: split={split!r}; expected 'train' or 'test'."
        )
    folder = folder or os.environ.get("TLKERAS_FASHION_MNIST") or DEBIAN_FOLDER
    image_file, label_file = (os.path.join(folder, name) for name in _FILES[split])
    if os.path.isfile(image_file) and os.path.isfile(label_file):
        labels = _read_idx(label_file, 8).astype("int64")
        images = _read_idx(image_file, 16).reshape(len(labels), 28, 28)
        return images, labels
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return (
        (x_train, y_train.astype("int64")) if split == "train" else (x_test, y_test.astype("int64"))
    )


def subsample(images, labels, per_class, seed=0):
    """A class-balanced random subset with `per_class` examples of each class."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        if per_class > len(indices):
            raise ConfigurationError(
                f"Only {len(indices)} examples of class {label}. Received: per_class={per_class}"
            )
        chosen.append(rng.choice(indices, per_class, replace=False))
    order = rng.permutation(np.concatenate(chosen))
    return images[order], labels[order]


def as_rgb_dataset(images, labels, image_size, batch_size=64, shuffle_seed=None):
    """A `tf.data.Dataset` of `(pixels, label)`: RGB float32 in [0, 255] at `image_size`.

    Grey images are repeated over three channels and resized on the fly, so
    a pretrained RGB backbone takes them as they are.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)

    def to_rgb(image, label):
        image = tf.cast(image, tf.float32)
        if image.shape.rank == 2:
            image = image[..., None]
        if image.shape[-1] == 1:
            image = tf.repeat(image, 3, axis=-1)
        return tf.image.resize(image, (image_size, image_size)), label

    return (
        dataset.map(to_rgb, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
