"""infer.py's long-audio path: windows whose kept centre frames tile the recording exactly."""
import numpy as np
import pytest

from jasper.src.asr import chunk_plan, long_audio_log_probs

OUT_HOP = 320  # 10 ms hop x stride 2 at 16 kHz


@pytest.mark.parametrize("num_samples", [OUT_HOP * 40, OUT_HOP * 41 + 17, OUT_HOP * 400 + 5, OUT_HOP * 123])
def test_kept_frames_tile_the_recording(num_samples):
    window, context = OUT_HOP * 50, OUT_HOP * 5
    plan = chunk_plan(num_samples, window, context, OUT_HOP)
    covered = []
    for start, end, keep_from, keep_to in plan:
        assert 0 <= start < end <= num_samples and end - start <= window and start % OUT_HOP == 0
        frames = -(-(end - start) // OUT_HOP)
        kept = range(frames)[keep_from:keep_to]
        covered += [start // OUT_HOP + j for j in kept]
        if keep_to is not None:  # an inner chunk keeps its centre: context on both sides
            assert keep_from * OUT_HOP >= min(context, start) and (frames - keep_to) * OUT_HOP >= context
    assert covered == list(range(-(-num_samples // OUT_HOP)))
    assert (len(plan) == 1) == (num_samples <= window)
    assert plan[-1][1] == num_samples and plan[-1][3] is None


class PositionModel:
    """Stand-in acoustic model whose 'posteriors' are the input frames, subsampled by 2: [1, 1, F] -> [1, F/2, 1]."""

    def log_probs(self, feats, lengths):
        out = feats[:, :, ::2].transpose(0, 2, 1)
        return out, np.array([out.shape[1]])


def test_stitched_posteriors_follow_the_global_time_axis():
    wave = np.arange(OUT_HOP * 333 + 100, dtype=np.float64)  # each sample holds its own position

    def positions_every_10ms(chunk):
        return chunk[::160][None]

    stitched, chunks = long_audio_log_probs(PositionModel(), positions_every_10ms, wave, OUT_HOP * 60,
                                            OUT_HOP * 8, OUT_HOP)
    assert chunks == 8  # window k ends at frame 44 k + 52: the 8th (k = 7) reaches frame 333
    np.testing.assert_array_equal(stitched[:, 0], np.arange(0, len(wave), OUT_HOP))


def test_bad_window_is_rejected():
    with pytest.raises(ValueError, match="multiples"):
        chunk_plan(10_000, 1000, 100, OUT_HOP)
    with pytest.raises(ValueError, match="window > 2"):
        chunk_plan(10_000, OUT_HOP * 4, OUT_HOP * 2, OUT_HOP)
