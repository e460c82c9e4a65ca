"""EncoderMaskerDecoder: the skeleton shared by TasNet and DPRNN."""
import utils.context  # noqa: F401  (must precede mindspore)
from mindspore import nn

from utils.separation.framing import crop_frames, frame_ratio, pad_to_frames


class EncoderMaskerDecoder(nn.Cell):
    """mixture [B, T] -> estimated sources [B, S, T] (same T: padded to whole frames inside, cropped back).

    encoder: padded [B, T_pad] -> features [B, F, N]   (override `encode` when it returns more)
    masker: features [B, F, N] -> masks [B, S, F, N]
    decoder: masked features [B, S, F, N] (+ optional frame gain) -> [B, S, T_pad]
    Subclasses call `_store_config(...)` with their constructor kwargs so `get_config()` can rebuild them.
    """

    def __init__(self, encoder, masker, decoder, frame_length, hop):
        super().__init__()
        frame_ratio(frame_length, hop)
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
        features, frame_gain = self.encode(pad_to_frames(mixture, self.frame_length, self.hop))
        masks = self.masker(features)
        estimates = self.decoder(masks * features.expand_dims(1), frame_gain)
        return crop_frames(estimates, length, self.frame_length, self.hop)
