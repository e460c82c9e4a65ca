"""utils/deploy310.py helpers and ECAPA's trial-prefix rule (fast, no model)."""
import numpy as np
import pytest

from utils.deploy310 import check_coverage, fit_length


def test_fit_length_pads_with_zeros_and_crops_along_the_axis():
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    padded = fit_length(features, 6, axis=1)
    assert padded.shape == (3, 6) and np.array_equal(padded[:, :4], features) and not padded[:, 4:].any()
    assert np.array_equal(fit_length(features, 2, axis=1), features[:, :2])
    assert fit_length(features, None) is features


def test_check_coverage_names_missing_extra_and_repeated_items():
    references = {"items": [{"item": "000000"}, {"item": "000001"}]}
    check_coverage(references, ["000001", "000000"], "RUN")
    for seen, message in ((["000000"], "missing ['000001']"), (["000000", "000001", "x"], "unexpected ['x']"),
                          (["000000", "000001", "000001"], "3 results for 2 items")):
        with pytest.raises(SystemExit, match=message.replace("[", r"\[").replace("]", r"\]")):
            check_coverage(references, seen, "RUN")


def test_ecapa_max_items_keeps_the_trial_prefix_within_the_file_budget():
    from ecapa_tdnn.preprocess_310 import first_trials
    trials = [(1, "a", "b"), (0, "a", "c"), (1, "d", "e"), (0, "b", "c")]
    assert first_trials(trials, 3) == trials[:2]  # the third trial would need files 4 and 5
    assert first_trials(trials, 5) == trials
    assert first_trials(trials, 1) == []
