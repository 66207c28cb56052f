"""The offline text-task loaders, on small files in their Debian formats."""

import numpy as np
import pytest

from tlkeras.data.fortunes import load_fortunes
from tlkeras.data.wordnet_glosses import SUPERSENSES
from tlkeras.data.wordnet_glosses import load_wordnet_glosses

WORDNET_LINES = {
    "noun": "  1 license header line\n"
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived to exist\n"
    '02084071 05 n 02 dog 0 domestic_dog 0 000 | a member of the genus Canis; "the dog barked"\n',
    "verb": "01835496 38 v 01 run 0 000 | move fast by using one's feet\n",
    "adj": "00001740 00 a 01 able 0 000 | having the necessary means\n",
    "adv": "00001740 02 r 01 quickly 0 000 | with rapid movements\n",
}


def test_wordnet_glosses_and_supersenses(tmp_path):
    for part, text in WORDNET_LINES.items():
        (tmp_path / f"data.{part}").write_text(text)
    texts, labels = load_wordnet_glosses(str(tmp_path))
    assert len(SUPERSENSES) == 45
    assert [SUPERSENSES[i] for i in labels] == [
        "noun.Tops",
        "noun.animal",
        "verb.motion",
        "adj.all",
        "adv.all",
    ]
    assert texts[1] == 'a member of the genus Canis; "the dog barked"'
    with_lemmas, _ = load_wordnet_glosses(str(tmp_path), include_lemmas=True)
    assert with_lemmas[1].startswith("dog domestic dog: a member")


def test_wordnet_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing data.noun"):
        load_wordnet_glosses(str(tmp_path))


def test_fortunes_categories_and_filters(tmp_path):
    (tmp_path / "science").write_text("E = mc^2\n%\nGravity:\n  not just a good idea\n%\n")
    (tmp_path / "work").write_text("Work is work.\n%\n" + "word " * 100 + "\n%\nHard work.\n%\n")
    (tmp_path / "tiny").write_text("one\n%\n")
    (tmp_path / "science.dat").write_bytes(b"\x00\x01")
    texts, labels, categories = load_fortunes(str(tmp_path), min_count=2, max_words=80)
    assert categories == ["science", "work"]
    assert list(texts) == [
        "E = mc^2",
        "Gravity: not just a good idea",
        "Work is work.",
        "Hard work.",
    ]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
