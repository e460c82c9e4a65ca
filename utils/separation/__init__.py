"""Shared code of the separation models (TasNet, DPRNN): framing, filterbanks, norms, mask activations,
the EncoderMaskerDecoder base, the PIT SI-SNR loss and the LibriMix / wsj0-2mix readers."""
