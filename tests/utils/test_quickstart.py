"""The quickstart's job list and results table (the runs themselves are what scripts/quickstart.sh does)."""
from utils.quickstart import MODEL_JOBS, results_table


def test_every_model_is_evaluated_trained_and_untrained_on_the_same_metrics():
    for model, steps in MODEL_JOBS.items():
        specs = {spec[0]: spec[1].split(":")[1] for _, _, spec in steps if spec}
        assert set(specs) == {"trained", "untrained"}, model
        assert specs["trained"] == specs["untrained"], model
        untrained_export = next(argv for name, argv, _ in steps if name == "untrained export")
        assert "--ckpt_path" not in untrained_export, model  # random weights


def test_results_table_puts_untrained_beside_trained():
    rows = results_table([("ecapa_tdnn", {"trained": {"eer": 0.125, "min_dcf": 0.8},
                                          "untrained": {"eer": 0.44, "min_dcf": 1.0}}, {"train": 61.2, "eval": 9.6})])
    assert rows[2] == "| ecapa_tdnn | eer | 44.0 % | 12.5 % | train 61, eval 10 |"
    assert rows[3] == "|  | min_dcf | 1.000 | 0.800 |  |"
