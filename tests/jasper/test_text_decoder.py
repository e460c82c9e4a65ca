"""Alphabet, text normalisation, greedy and prefix-beam CTC decoding (with and without an ARPA LM)."""
import math

import numpy as np
import pytest

from jasper.src.decoder import ArpaLanguageModel, beam_search_batch, beam_search_decode, greedy_decode
from jasper.src.text import BLANK, LABELS, NUM_CLASSES, decode, encode, normalize_text


def posteriors(frames):
    """[T, 29] log-probs from a list of {char: prob} per frame (rest of the mass on the blank)."""
    out = np.full((len(frames), NUM_CLASSES), 1e-6)
    for t, frame in enumerate(frames):
        for char, prob in frame.items():
            out[t, BLANK if char == "_" else LABELS.index(char)] = prob
        out[t, BLANK] += max(0.0, 1.0 - out[t].sum())
    return np.log(out / out.sum(axis=1, keepdims=True))


def test_alphabet_layout():
    assert NUM_CLASSES == 29 and BLANK == 28
    assert LABELS[0] == " " and LABELS[1] == "a" and LABELS[26] == "z" and LABELS[27] == "'"


def test_text_round_trip():
    assert normalize_text("  Hello,  WORLD-wide!  It's 2 o'clock.") == "hello world wide it's o'clock"
    ids = encode("It's a TEST")
    assert ids[:4] == [9, 20, 27, 19] and max(ids) < BLANK
    assert decode(ids) == "it's a test"
    assert decode(ids + [BLANK]) == "it's a test"
    with pytest.raises(ValueError, match="outside the alphabet"):
        encode("no digits 4", normalize=False)


def test_greedy_collapses_repeats_and_blanks_within_lengths():
    frames = [{"c": 0.9}, {"c": 0.9}, {"_": 0.9}, {"a": 0.8}, {"a": 0.5}, {"_": 0.9}, {"a": 0.9},
              {"t": 0.9}, {"x": 0.9}]
    batch = np.stack([posteriors(frames), posteriors(frames)])
    assert greedy_decode(batch, [8, 5]) == ["caat", "ca"]


def test_beam_finds_the_label_greedy_misses():
    # each frame alone prefers the blank (0.6) but "a" sums three paths: 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64
    frames = [{"a": 0.4, "_": 0.6}, {"a": 0.4, "_": 0.6}]
    log_probs = posteriors(frames)
    assert greedy_decode(log_probs[None]) == [""]
    assert beam_search_decode(log_probs, beam_width=4) == "a"


def test_beam_without_lm_agrees_with_greedy_on_peaky_posteriors():
    frames = [{"h": 0.9}, {"_": 0.9}, {"i": 0.8}, {" ": 0.9}, {"y": 0.9}, {"o": 0.7}, {"o": 0.6}, {"_": 0.8},
              {"o": 0.9}]
    log_probs = posteriors(frames)
    assert beam_search_decode(log_probs, beam_width=8) == greedy_decode(log_probs[None])[0] == "hi yoo"
    assert beam_search_batch(log_probs[None], [3], beam_width=8) == ["hi"]


@pytest.fixture
def arpa_file(tmp_path):
    path = tmp_path / "lm.arpa"
    path.write_text("\\data\\\nngram 1=5\nngram 2=2\n\n\\1-grams:\n"
                    "-1.0\t</s>\n-99\t<s>\t-0.5\n-3.0\tHAT\t-0.2\n-0.5\tHOT\t-0.3\n-1.0\tTEA\t-0.1\n\n"
                    "\\2-grams:\n-0.2\t<s> HOT\n-0.1\tHOT TEA\n\n\\end\\\n")
    return path


def test_arpa_reader_backs_off(arpa_file):
    lm = ArpaLanguageModel(str(arpa_file))
    assert lm.order == 2
    assert lm.score(("<s>",), "hot") == pytest.approx(-0.2 * math.log(10))
    # "hat" after "<s>" is not a bigram: back-off weight of <s> plus the unigram
    assert lm.score(("<s>",), "hat") == pytest.approx((-0.5 - 3.0) * math.log(10))
    assert lm.score(("hat",), "tea") == pytest.approx((-0.2 - 1.0) * math.log(10))
    assert lm.score(("hot",), "zebra") == pytest.approx(-10.0 * math.log(10))


def test_lm_changes_the_choice(arpa_file):
    frames = [{"h": 0.9}, {"a": 0.55, "o": 0.45}, {"t": 0.9}]
    log_probs = posteriors(frames)
    assert beam_search_decode(log_probs, beam_width=8) == "hat"
    lm = ArpaLanguageModel(str(arpa_file))
    assert beam_search_decode(log_probs, beam_width=8, lm=lm, alpha=0.5, beta=0.0) == "hot"
    assert beam_search_decode(log_probs, beam_width=8, lm=lm, alpha=0.0, beta=0.0) == "hat"


def test_bad_arpa_is_reported(tmp_path):
    path = tmp_path / "broken.arpa"
    path.write_text("hello world\n")
    with pytest.raises(ValueError, match="broken.arpa:1"):
        ArpaLanguageModel(str(path))
