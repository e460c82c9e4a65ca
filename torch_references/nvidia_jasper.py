"""PyTorch re-implementation of NVIDIA DeepLearningExamples' Jasper (PyTorch/SpeechRecognition/Jasper), for the
parity tests and the speed comparison (bench/peers.py).

NVIDIA's code is not on PyPI, so this module rebuilds its published structure and state-dict key names:

* ``Jasper``: ``encoder.layers.{i}`` blocks and ``decoder.layers.0`` (1x1 Conv1d with bias) + log-softmax.
* ``JasperBlock``: ``conv`` is a ModuleList [conv, bn, act, dropout] * (repeat - 1) + [conv, bn], so sub-block j
  has its conv at ``conv.{4j}`` and its BatchNorm at ``conv.{4j+1}``; ``res.{k}`` = [1x1 conv, bn] per residual
  source; after the residual sum, activation + dropout. A dense block's sources are the input of the first
  dense block and every dense block output so far.
* masked convolutions: frames past each length are zeroed before every convolution (``use_conv_masks``);
  output lengths floor((L + 2p - d(k-1) - 1) / s) + 1 with p = (k // 2) d.
* ``FilterbankFeatures``: dither (off here), pre-emphasis, ``torch.stft`` (centre, reflect padding, symmetric
  Hann of ``win_length`` inside ``n_fft``), power, librosa mel filters (buffer ``fb`` [1, n_mels, n_fft/2+1]),
  ln(x + 1e-20), per-feature mean / unbiased std (+1e-5) over ceil(T / hop) valid frames, the rest zeroed.

Imported by the parity tests and bench/peers.py (torch needed; never by the models).
"""
import math

import librosa
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "hardtanh": nn.Hardtanh}


def _valid_mask(x, lengths):
    """[B, C, T], [B] -> bool [B, 1, T], True on frames at or past the length."""
    return (torch.arange(x.shape[-1], device=x.device)[None, :] >= lengths[:, None])[:, None, :]


class MaskedConv1d(nn.Conv1d):
    def forward(self, x, lengths):
        x = x.masked_fill(_valid_mask(x, lengths), 0.0)
        span = self.dilation[0] * (self.kernel_size[0] - 1)
        out_lengths = torch.div(lengths + 2 * self.padding[0] - span - 1, self.stride[0], rounding_mode="floor") + 1
        return super().forward(x), out_lengths


class JasperBlock(nn.Module):
    def __init__(self, in_channels, filters, repeat, kernel, stride, dilation, dropout, activation, residual_panes):
        super().__init__()
        padding = (kernel // 2) * dilation
        self.conv = nn.ModuleList()
        for index in range(repeat):
            self.conv.append(MaskedConv1d(in_channels if index == 0 else filters, filters, kernel, stride=stride,
                                          padding=padding, dilation=dilation, bias=False))
            self.conv.append(nn.BatchNorm1d(filters, eps=1e-3, momentum=0.1))
            if index < repeat - 1:
                self.conv.extend([ACTIVATIONS[activation](), nn.Dropout(dropout)])
        self.res = None
        if residual_panes:
            self.res = nn.ModuleList(
                nn.ModuleList([MaskedConv1d(pane, filters, 1, bias=False), nn.BatchNorm1d(filters, eps=1e-3)])
                for pane in residual_panes)
        self.out = nn.Sequential(ACTIVATIONS[activation](), nn.Dropout(dropout))

    def forward(self, sources, lengths):
        x, out_lengths = sources[-1], lengths
        for layer in self.conv:
            if isinstance(layer, MaskedConv1d):
                x, out_lengths = layer(x, out_lengths)
            else:
                x = layer(x)
        if self.res is not None:
            for source, (conv, norm) in zip(sources, self.res):
                x = x + norm(conv(source, lengths)[0])
        return self.out(x), out_lengths


class Jasper(nn.Module):
    """blocks: dicts {filters, repeat, kernel, stride, dilation, dropout, residual, residual_dense}.
    forward(feats [B, in_feats, T], lengths [B]) -> (log_probs [B, T', n_classes], lengths [B])."""

    def __init__(self, in_feats, n_classes, blocks, activation="relu"):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList()
        self.dense = []
        panes, channels = [], in_feats
        for block in blocks:
            dense = bool(block.get("residual_dense", False))
            if dense:
                panes = panes + [channels]
            block_panes = list(panes) if dense else ([channels] if block.get("residual", False) else [])
            self.encoder.layers.append(JasperBlock(
                channels, block["filters"], block.get("repeat", 1), block["kernel"], block.get("stride", 1),
                block.get("dilation", 1), block.get("dropout", 0.0), activation, block_panes))
            self.dense.append(dense)
            channels = block["filters"]
        self.decoder = nn.Module()
        self.decoder.layers = nn.Sequential(nn.Conv1d(channels, n_classes, kernel_size=1, bias=True))

    def forward(self, feats, lengths):
        sources = [feats]
        for dense, layer in zip(self.dense, self.encoder.layers):
            x, lengths = layer(sources, lengths)
            sources = sources + [x] if dense else [x]
        logits = self.decoder.layers(sources[-1]).transpose(1, 2)
        return torch.log_softmax(logits, dim=2), lengths


class FilterbankFeatures(nn.Module):
    """forward(audio [B, T] float32, audio_lengths [B]) -> (feats [B, n_filt, F], lengths [B])."""

    def __init__(self, sample_rate=16000, window_size=0.02, window_stride=0.01, n_fft=512, n_filt=64,
                 preemph=0.97, pad_align=16):
        super().__init__()
        self.win_length = int(sample_rate * window_size)
        self.hop_length = int(sample_rate * window_stride)
        self.n_fft = n_fft or 2 ** math.ceil(math.log2(self.win_length))
        self.preemph, self.pad_align = preemph, pad_align
        self.register_buffer("fb", torch.tensor(librosa.filters.mel(
            sr=sample_rate, n_fft=self.n_fft, n_mels=n_filt, fmin=0, fmax=sample_rate / 2),
            dtype=torch.float32).unsqueeze(0))
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=False))

    @torch.no_grad()
    def forward(self, audio, audio_lengths):
        lengths = torch.ceil(audio_lengths.float() / self.hop_length).int()
        x = torch.cat([audio[:, :1], audio[:, 1:] - self.preemph * audio[:, :-1]], dim=1)
        spec = torch.stft(x, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window, center=True, pad_mode="reflect", return_complex=True)
        x = torch.log(torch.matmul(self.fb, spec.abs() ** 2) + 1e-20)
        mean = torch.stack([x[i, :, :lengths[i]].mean(dim=1) for i in range(x.shape[0])])
        std = torch.stack([x[i, :, :lengths[i]].std(dim=1) for i in range(x.shape[0])]) + 1e-5
        x = ((x - mean[:, :, None]) / std[:, :, None]).masked_fill(_valid_mask(x, lengths), 0.0)
        padded = -(-x.shape[-1] // self.pad_align) * self.pad_align
        return nn.functional.pad(x, (0, padded - x.shape[-1])), lengths


def randomize_(model, generator):
    """Random weights and BatchNorm statistics (so the running statistics matter) in place."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv1d):
                fan_in = module.weight.shape[1] * module.weight.shape[2]
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / math.sqrt(fan_in))
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.BatchNorm1d):
                size = module.num_features
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
                module.running_mean.copy_(0.3 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
    return model


def nvidia_init_(model):
    """DeepLearningExamples' Jasper init_weights (mode xavier_uniform), from its definition: every conv weight
    xavier_uniform_ (gain 1; conv biases keep torch's default), BatchNorm weight 1, bias 0, statistics 0 / 1."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.xavier_uniform_(module.weight, gain=1.0)
            elif isinstance(module, nn.BatchNorm1d):
                module.reset_parameters()
    return model
