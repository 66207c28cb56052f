"""Real photos for the ImageNet checks, resized with plain NumPy.

The reference logits in `data/` were computed from exactly these arrays, so
the resize must not depend on an image library's version: a centre crop to a
square, then nearest-neighbour sampling at fixed indices.
"""

import numpy as np
import skimage.data

# skimage photo name -> ImageNet classes accepted as a correct top-1.
# chelsea is a tabby cat (281 tabby, 282 tiger cat, 283 Persian, 285 Egyptian
# cat); coffee is a cup of coffee on a saucer (967 espresso, 968 cup,
# 504 coffee mug).
EXPECTED_CLASSES = {
    "chelsea": {281, 282, 283, 285},
    "coffee": {504, 967, 968},
}


def photo(name, size):
    """Returns the skimage photo `name` as a `(size, size, 3)` uint8 array."""
    image = getattr(skimage.data, name)()
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top : top + side, left : left + side, :3]
    index = (np.arange(size) * side) // size
    return np.ascontiguousarray(square[index][:, index])


def photos(size):
    """Returns all photos of `EXPECTED_CLASSES` as one uint8 batch."""
    return np.stack([photo(name, size) for name in EXPECTED_CLASSES])
