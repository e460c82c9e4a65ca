"""Character alphabet of Jasper: space, a-z, apostrophe, then the CTC blank (29 classes, blank = 28)."""
import re

LABELS = [" "] + [chr(code) for code in range(ord("a"), ord("z") + 1)] + ["'"]
BLANK = len(LABELS)
NUM_CLASSES = len(LABELS) + 1
_INDEX = {char: index for index, char in enumerate(LABELS)}
_NOT_IN_ALPHABET = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r" +")


def normalize_text(text):
    """Lower-case, turn hyphens/underscores/other separators into spaces, drop every other character outside
    the alphabet, collapse runs of spaces and strip the ends: 'Hello,  WORLD-wide!' -> 'hello world wide'."""
    lowered = text.lower().replace("’", "'")
    spaced = re.sub(r"[\s\-_/]+", " ", lowered)
    return _SPACES.sub(" ", _NOT_IN_ALPHABET.sub("", spaced)).strip()


def encode(text, normalize=True):
    """Text -> list of label ids in [0, 27] (no blanks). With normalize=False, unknown characters raise."""
    if normalize:
        text = normalize_text(text)
    try:
        return [_INDEX[char] for char in text]
    except KeyError as error:
        raise ValueError(f"jasper/src/text.py: character {error.args[0]!r} is outside the alphabet "
                         f"in {text!r}") from None


def decode(ids):
    """Label ids -> text; the blank id is skipped (no CTC collapsing here, see decoder.py)."""
    return "".join(LABELS[i] for i in ids if 0 <= int(i) < BLANK)
