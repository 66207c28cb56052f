"""tlkeras-audio: waveform-to-prediction audio backbones for tlkeras.

- `speech_embedding`: Google's speech_embedding CNN with its real weights
  (converted offline from the `wyoming-openwakeword` wheel), 96-d features.
- `audio_cnn`: a from-scratch CNN of similar size on the same front end.
- `musicnn_vgg`: musicnn's VGG music tagger with its MagnaTagATune or MSD
  weights (converted offline from the `musicnn` wheel), 256-d features.
- `LogMelSpectrogram`, `FrameWindows`, `PoolWindows`: the front-end layers.
- `resample`, `pad_or_trim`, `read_wav`: waveform utilities.
- `tlkeras_audio.datasets`: spoken words synthesised on the machine
  (espeak-ng, flite) and real human recordings (Asterisk's prompts).

```python
import tlkeras
model = tlkeras.build("speech_embedding", head="classifier", num_classes=10)
model.fit(waveforms_16khz, labels, epochs=5)
```
"""

from tlkeras_audio.audio_backbone import AudioBackbone
from tlkeras_audio.backbones import audio_cnn
from tlkeras_audio.backbones import musicnn_vgg
from tlkeras_audio.backbones import speech_embedding
from tlkeras_audio.frontend import SAMPLE_RATE
from tlkeras_audio.frontend import LogMelSpectrogram
from tlkeras_audio.waveforms import pad_or_trim
from tlkeras_audio.waveforms import read_wav
from tlkeras_audio.waveforms import resample
from tlkeras_audio.windows import FrameWindows
from tlkeras_audio.windows import PoolWindows

__all__ = [
    "SAMPLE_RATE",
    "AudioBackbone",
    "FrameWindows",
    "LogMelSpectrogram",
    "PoolWindows",
    "audio_cnn",
    "musicnn_vgg",
    "pad_or_trim",
    "read_wav",
    "resample",
    "speech_embedding",
]
