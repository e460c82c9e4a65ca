import json

import pytest

from utils.hccl_tools import (RankTableError, load_rank_table, main, make_rank_table, parse_device_range,
                              read_hccn_conf, validate_rank_table)


def test_device_ranges():
    assert parse_device_range("[0,8)") == list(range(8))
    assert parse_device_range("4-7") == [4, 5, 6, 7]
    assert parse_device_range("0,2") == [0, 2]
    for bad in ("[0,0)", "a-b", "0,0", "[0,17)"):
        with pytest.raises(RankTableError):
            parse_device_range(bad)


def test_table_from_hccn_conf(tmp_path):
    conf = tmp_path / "hccn.conf"
    conf.write_text("".join(f"address_{d}=192.98.{d % 4}.{10 + d}\nnetmask_{d}=255.255.255.0\n" for d in range(8)))
    out = tmp_path / "table.json"
    assert main(["--device_num", "[4,8)", "--server_ip", "10.0.0.1", "--hccn_conf", str(conf), "--out", str(out)]) == 0
    table, count = load_rank_table(str(out))
    assert count == 4 and table["server_count"] == "1" and table["status"] == "completed"
    devices = table["server_list"][0]["device"]
    assert [(d["device_id"], d["rank_id"], d["device_ip"]) for d in devices] == [
        ("4", "0", "192.98.0.14"), ("5", "1", "192.98.1.15"), ("6", "2", "192.98.2.16"), ("7", "3", "192.98.3.17")]
    assert read_hccn_conf(str(conf))[7] == "192.98.3.17"


def test_validation_names_the_problem(tmp_path):
    table = make_rank_table([0, 1], {0: "1.1.1.1", 1: "1.1.1.2"}, "10.0.0.1")
    assert validate_rank_table(table) == 2
    broken = json.loads(json.dumps(table))
    broken["server_list"][0]["device"][1]["rank_id"] = "0"
    with pytest.raises(RankTableError, match="rank_id values"):
        validate_rank_table(broken)
    broken = json.loads(json.dumps(table))
    broken["status"] = "initializing"
    with pytest.raises(RankTableError, match="status"):
        validate_rank_table(broken)
    with pytest.raises(RankTableError, match="not an IP"):
        make_rank_table([0], {0: "nope"}, "10.0.0.1")
    with pytest.raises(RankTableError, match="no device IP"):
        make_rank_table([0, 1], {0: "1.1.1.1"}, "10.0.0.1")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken))
    assert main(["--validate", str(path)]) == 2
    assert main(["--device_num", "[0,2)", "--device_ips", "1.1.1.1", "--server_ip", "10.0.0.1"]) == 2
