"""Spoken-word datasets made on this machine: synthetic voices and one real human speaker.

- `spoken_words`: words spoken by espeak-ng or flite (Debian packages
  `espeak-ng`, `flite`) over a grid of voices x speeds x pitches. Each clip is
  synthesised once and cached as a WAV file in the tlkeras cache; the same
  arguments give the same clips (the synthesisers are deterministic, and
  `seed` only picks which grid points when `clips_per_word` samples them).
- `human_digits` / `human_words`: real recordings of one speaker from
  Asterisk's English prompts (`asterisk-core-sounds-en-wav`, 8 kHz), read
  with the strict `read_wav` and resampled to 16 kHz.

Every clip is trimmed of leading and trailing silence, scaled to a peak of
0.5 (synthesisers and the recordings differ in level; the log-mel front end
would see that as a shift) and centred in a fixed-length window (1 s by
default), so clips stack into one array.
"""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from tlkeras.errors import DataError
from tlkeras.weights import cache_dir
from tlkeras.weights.cache import atomic_path
from tlkeras_audio.frontend import SAMPLE_RATE
from tlkeras_audio.waveforms import pad_or_trim
from tlkeras_audio.waveforms import read_wav

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
)
ESPEAK_VARIANTS = ("m1", "m3", "f2", "f4")
# Every accent with every variant: 32 voices.
ESPEAK_VOICES = tuple(f"{a}+{v}" for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS)
# awb_time is a limited-domain voice (it only says times): left out.
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
# espeak-ng speed in words per minute and pitch 0-99; flite duration
# stretch (> 1 is slower) and mean F0 in Hz (None: the voice's own).
ENGINES = {
    "espeak-ng": {"voices": ESPEAK_VOICES, "speeds": (140, 175), "pitches": (35, 65)},
    "flite": {"voices": FLITE_VOICES, "speeds": (0.9, 1.15), "pitches": (None, 140)},
}
APT_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite"}
ASTERISK_EN = Path("/usr/share/asterisk/sounds/en")
ASTERISK_PACKAGE = "asterisk-core-sounds-en-wav"
CLIP_SAMPLES = SAMPLE_RATE
SILENCE_DB = -35.0
PEAK = 0.5


def spoken_words(
    words=DIGIT_WORDS,
    engine="espeak-ng",
    voices=None,
    speeds=None,
    pitches=None,
    clips_per_word=None,
    seed=0,
    length=CLIP_SAMPLES,
):
    """Synthesises every word with every (voice, speed, pitch) and returns labelled clips.

    Args:
        words: the words; the label of a clip is its word's index. Defaults
            to the digits `"zero"` ... `"nine"`.
        engine: `"espeak-ng"` or `"flite"`. Defaults to `"espeak-ng"`.
        voices: voice names of the engine (`"en-us+f2"` for espeak-ng,
            `"slt"` for flite). Defaults to all of `ENGINES[engine]`.
        speeds: espeak-ng words per minute, or flite duration stretches.
            Defaults to `ENGINES[engine]["speeds"]`.
        pitches: espeak-ng pitch (0-99), or flite mean F0 in Hz (`None`:
            the voice's own). Defaults to `ENGINES[engine]["pitches"]`.
        clips_per_word: draw this many grid points per word (without
            replacement, by `seed`) instead of the whole grid. Defaults to
            `None` (the whole grid).
        seed: seed of that draw. Defaults to `0`.
        length: samples per clip at 16 kHz. Defaults to `16000` (1 s).

    Returns:
        `(waveforms, labels, info)`: float32 `(n, length)`, int32 `(n,)`, and
        a dict of arrays `"word"`, `"voice"`, `"speed"`, `"pitch"` per clip.

    Raises:
        DataError: the engine is not installed (the message gives the
            `apt-get install` line) or failed on a voice.

    Example:

    ```python
    x, y, info = spoken_words(engine="espeak-ng", voices=ESPEAK_VOICES[:8])
    ```
    """
    if engine not in ENGINES:
        raise DataError(
            f"Unknown engine. Received: engine={engine!r}; expected one of {sorted(ENGINES)}"
        )
    _require_program(engine)
    defaults = ENGINES[engine]
    voices = tuple(defaults["voices"] if voices is None else voices)
    speeds = tuple(defaults["speeds"] if speeds is None else speeds)
    pitches = tuple(defaults["pitches"] if pitches is None else pitches)
    words = tuple(words)
    if not words or not voices or not speeds or not pitches:
        raise DataError(
            "words, voices, speeds and pitches must each be non-empty. Received: "
            f"words={words!r}, voices={voices!r}, speeds={speeds!r}, pitches={pitches!r}"
        )
    grid = [(v, s, p) for v in voices for s in speeds for p in pitches]
    rng = np.random.default_rng(seed)
    clips, labels, info = [], [], {"word": [], "voice": [], "speed": [], "pitch": []}
    for label, word in enumerate(words):
        points = grid
        if clips_per_word is not None:
            if not 1 <= clips_per_word <= len(grid):
                raise DataError(
                    f"clips_per_word must be in [1, {len(grid)}] (the grid size). "
                    f"Received: clips_per_word={clips_per_word!r}"
                )
            points = [grid[i] for i in sorted(rng.choice(len(grid), clips_per_word, replace=False))]
        for voice, speed, pitch in points:
            waveform = _synthesise(engine, word, voice, speed, pitch)
            clips.append(pad_or_trim(_peak_normalise(trim_silence(waveform)), length))
            labels.append(label)
            for key, value in zip(info, (word, voice, speed, pitch), strict=True):
                info[key].append(value)
    return (
        np.stack(clips),
        np.asarray(labels, dtype="int32"),
        {key: np.asarray(values, dtype=object) for key, values in info.items()},
    )


def human_digits(length=CLIP_SAMPLES):
    """The digits zero to nine spoken by one real person (Asterisk's prompts), at 16 kHz.

    Returns:
        `(waveforms (10, length), labels 0..9)`.

    Raises:
        DataError: the package is missing (the message gives the `apt-get` line).
    """
    return human_words({word: f"digits/{digit}" for digit, word in enumerate(DIGIT_WORDS)}, length)


def human_words(prompts, length=CLIP_SAMPLES):
    """Clips of Asterisk's English prompts, labelled in the order given.

    Args:
        prompts: a dict word -> prompt path under `/usr/share/asterisk/sounds/en`
            without `.wav` (e.g. `{"yes": "yes", "seven": "digits/7"}`).
        length: samples per clip at 16 kHz. Defaults to `16000`.

    Returns:
        `(waveforms (len(prompts), length), labels 0..len(prompts) - 1)`.
    """
    if not ASTERISK_EN.is_dir():
        raise DataError(f"No Asterisk prompts at {ASTERISK_EN}: apt-get install {ASTERISK_PACKAGE}")
    clips = []
    for word, prompt in prompts.items():
        path = ASTERISK_EN / f"{prompt}.wav"
        if not path.is_file():
            raise DataError(f"No prompt file for {word!r}. Received: {path}")
        waveform, _ = read_wav(path)
        clips.append(pad_or_trim(_peak_normalise(trim_silence(waveform)), length))
    return np.stack(clips), np.arange(len(clips), dtype="int32")


def trim_silence(waveform, threshold_db=SILENCE_DB, frame=160):
    """Cuts leading and trailing frames quieter than `threshold_db` below the loudest frame.

    Args:
        waveform: a 1-D float array.
        threshold_db: level below the peak frame RMS counted as silence.
            Defaults to `-35.0`.
        frame: frame length in samples. Defaults to `160` (10 ms).

    Returns:
        The waveform from its first to its last loud frame (unchanged if silent).
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    count = len(waveform) // frame
    if count == 0:
        return waveform
    rms = np.sqrt(np.mean(waveform[: count * frame].reshape(count, frame) ** 2, axis=1))
    if rms.max() == 0:
        return waveform
    loud = np.nonzero(rms >= rms.max() * 10 ** (threshold_db / 20))[0]
    return waveform[loud[0] * frame : (loud[-1] + 1) * frame]


def _peak_normalise(waveform):
    peak = np.abs(waveform).max() if waveform.size else 0.0
    return waveform if peak == 0 else (waveform * (PEAK / peak)).astype(np.float32)


def _require_program(engine):
    if shutil.which(engine) is None:
        raise DataError(
            f"The speech synthesiser {engine!r} is not installed: "
            f"apt-get install {APT_PACKAGES[engine]}. Received: engine={engine!r}"
        )


def _synthesise(engine, word, voice, speed, pitch):
    """Returns the 16 kHz waveform of one clip, synthesising it into the cache once."""
    key = f"{word}|{voice}|{speed}|{pitch}"
    readable = re.sub(r"[^A-Za-z0-9]+", "_", key)[:60]
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    path = cache_dir() / "audio" / "spoken_words" / engine / f"{readable}-{digest}.wav"
    if not path.is_file():
        with atomic_path(path) as tmp:
            if engine == "espeak-ng":
                command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch)]
                command += ["-w", str(tmp), word]
            else:
                command = ["flite", "-voice", voice, "--setf", f"duration_stretch={speed}"]
                if pitch is not None:
                    command += ["--setf", f"int_f0_target_mean={pitch}"]
                command += ["-t", word, "-o", str(tmp)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0 or tmp.stat().st_size <= 44:
                raise DataError(
                    f"{engine} failed (exit code {result.returncode}): "
                    f"{(result.stderr or result.stdout).strip()[-300:]}. Received: "
                    f"word={word!r}, voice={voice!r}, speed={speed!r}, pitch={pitch!r}"
                )
    waveform, _ = read_wav(path)
    return waveform
