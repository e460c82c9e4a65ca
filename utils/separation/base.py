"""EncoderMaskerDecoder: the skeleton shared by TasNet and DPRNN."""
import utils.context  # noqa: F401  (must precede mindspore)
from mindspore import nn

from utils.modules import broadcast_like
from utils.separation.framing import crop_frames, frame_ratio, pad_to_frames, pad_to_length, valid_length

FRAMINGS = ("padded", "valid")


def non_default(options, defaults):
    """The options whose value differs from `defaults`: optional constructor options are stored in the
    config only when set, so configs written before an option existed still equal `get_config()`."""
    return {name: value for name, value in options.items() if value != defaults[name]}


class EncoderMaskerDecoder(nn.Cell):
    """mixture [B, T] -> estimated sources [B, S, T] (same T).

    framing "padded": the mixture is zero-padded so every sample lies in `frame_length / hop` frames,
    and the output is cropped back. "valid": asteroid's Conv1d framing, frames start at sample 0 with
    no padding, the last (T - frame_length) % hop samples are not encoded and come out as zeros.

    encoder: padded [B, T_pad] -> features [B, F, N]   (override `encode` when it returns more)
    masker: features [B, F, N] -> masks [B, S, F, N]
    decoder: masked features [B, S, F, N] (+ optional frame gain) -> [B, S, T_pad]
    Subclasses call `_store_config(...)` with their constructor kwargs so `get_config()` can rebuild them.
    """

    def __init__(self, encoder, masker, decoder, frame_length, hop, framing="padded"):
        super().__init__()
        frame_ratio(frame_length, hop)
        if framing not in FRAMINGS:
            raise ValueError(f"unknown framing {framing!r}; choose one of {', '.join(FRAMINGS)}")
        self.valid_framing = framing == "valid"
        self.encoder, self.masker, self.decoder = encoder, masker, decoder
        self.frame_length, self.hop = frame_length, hop
        self._config = {}

    def _store_config(self, **kwargs):
        self._config = dict(kwargs)

    def get_config(self):
        """The constructor kwargs: `type(model)(**model.get_config())` rebuilds the architecture."""
        return dict(self._config)

    def encode(self, padded):
        """padded [B, T_pad] -> (features [B, F, N], frame gain [B, F, 1] or None)."""
        return self.encoder(padded), None

    def construct(self, mixture):
        if mixture.ndim != 2:
            raise ValueError(f"{type(self).__name__} expects a mixture batch [B, T], got {mixture.ndim} dims")
        length = mixture.shape[-1]
        if self.valid_framing:
            framed = mixture[:, :valid_length(length, self.frame_length, self.hop)]
        else:
            framed = pad_to_frames(mixture, self.frame_length, self.hop)
        features, frame_gain = self.encode(framed)
        masks = self.masker(features)
        estimates = self.decoder(masks * broadcast_like(features.expand_dims(1), masks), frame_gain)
        if self.valid_framing:
            return pad_to_length(estimates, length, self.hop - 1)
        return crop_frames(estimates, length, self.frame_length, self.hop)
