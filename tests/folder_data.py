"""Class folders on disk, as `keras.utils.*_dataset_from_directory` read them (shared by tests)."""

import keras
import numpy as np


def write_image_folders(root, per_class, classes=("cats", "dogs"), size=16):
    """`root/<class>/<i>.png`: random `size` x `size` RGB images, `per_class` per class."""
    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            image = rng.integers(0, 256, size=(size, size, 3), dtype="uint8")
            keras.utils.save_img(root / label / f"{index}.png", image)
    return root
