"""Write and validate HCCL rank tables (version 1.0) for Ascend data-parallel training.

    python -m utils.hccl_tools --device_num "[0,8)" [--server_ip IP] [--device_ips IP,IP,...]
                               [--hccn_conf /etc/hccn.conf] [--out FILE]
    python -m utils.hccl_tools --validate FILE      # prints the device count, exit 2 when invalid

Device IPs come from ``--device_ips`` or, when absent, from ``/etc/hccn.conf`` lines
``address_<device>=<ip>`` (as written by the Ascend driver tools). The table lists, per device, its
``device_id``, ``device_ip`` and ``rank_id`` on one server, with ``status: completed``.
"""
import argparse
import ipaddress
import json
import os
import re
import socket
import sys


class RankTableError(ValueError):
    """A rank table or its inputs are invalid."""


def parse_device_range(text):
    """'[0,8)' -> [0..7]; '0-3' and '0,1,2,3' are accepted too."""
    text = text.strip()
    match = re.fullmatch(r"\[(\d+)\s*,\s*(\d+)\)", text) or re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
    if match:
        start, end = int(match.group(1)), int(match.group(2))
        devices = list(range(start, end if text.startswith("[") else end + 1))
    elif re.fullmatch(r"\d+(\s*,\s*\d+)*", text):
        devices = [int(d) for d in text.split(",")]
    else:
        raise RankTableError(f"cannot read device range {text!r}: use '[0,8)', '0-7' or '0,1,2,3'")
    if not devices or len(set(devices)) != len(devices) or max(devices) > 15:
        raise RankTableError(f"device range {text!r} must list distinct device ids between 0 and 15")
    return devices


def read_hccn_conf(path):
    """{device_id: ip} from ``address_<id>=<ip>`` lines of an hccn.conf file."""
    addresses = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"\s*address_(\d+)\s*=\s*(\S+)", line)
            if match:
                addresses[int(match.group(1))] = match.group(2)
    return addresses


def _check_ip(ip, what):
    try:
        ipaddress.ip_address(ip)
    except ValueError as exc:
        raise RankTableError(f"{what}: {ip!r} is not an IP address") from exc


def make_rank_table(devices, device_ips, server_ip):
    """The rank table dict for one server. device_ips: {device_id: ip}."""
    _check_ip(server_ip, "server_ip")
    missing = [d for d in devices if d not in device_ips]
    if missing:
        raise RankTableError(f"no device IP for device(s) {missing}: give --device_ips or an hccn.conf")
    device_list = []
    for rank, device in enumerate(devices):
        _check_ip(device_ips[device], f"device {device}")
        device_list.append({"device_id": str(device), "device_ip": device_ips[device], "rank_id": str(rank)})
    return {"version": "1.0", "server_count": "1",
            "server_list": [{"server_id": server_ip, "device": device_list, "host_nic_ip": "reserve"}],
            "status": "completed"}


def validate_rank_table(table):
    """Check the structure; returns the number of devices. Raises RankTableError naming the problem."""
    if not isinstance(table, dict):
        raise RankTableError("rank table must be a JSON object")
    if table.get("version") != "1.0":
        raise RankTableError(f"version must be '1.0', got {table.get('version')!r}")
    if table.get("status") != "completed":
        raise RankTableError(f"status must be 'completed', got {table.get('status')!r}")
    servers = table.get("server_list")
    if not isinstance(servers, list) or not servers:
        raise RankTableError("server_list must be a non-empty list")
    if str(table.get("server_count")) != str(len(servers)):
        raise RankTableError(f"server_count {table.get('server_count')!r} != {len(servers)} servers listed")
    ranks = []
    for server in servers:
        _check_ip(str(server.get("server_id")), "server_id")
        devices = server.get("device")
        if not isinstance(devices, list) or not devices:
            raise RankTableError(f"server {server.get('server_id')}: device must be a non-empty list")
        seen = set()
        for device in devices:
            for key in ("device_id", "device_ip", "rank_id"):
                if key not in device:
                    raise RankTableError(f"server {server['server_id']}: a device lacks {key!r}")
            _check_ip(device["device_ip"], f"device {device['device_id']}")
            if device["device_id"] in seen:
                raise RankTableError(f"server {server['server_id']}: device_id {device['device_id']} repeated")
            seen.add(device["device_id"])
            ranks.append(int(device["rank_id"]))
    if sorted(ranks) != list(range(len(ranks))):
        raise RankTableError(f"rank_id values must be 0..{len(ranks) - 1} once each, got {sorted(ranks)}")
    return len(ranks)


def load_rank_table(path):
    """Read and validate a rank table file; returns (table, device count)."""
    try:
        with open(path, encoding="utf-8") as handle:
            table = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise RankTableError(f"{path}: {exc}") from exc
    try:
        return table, validate_rank_table(table)
    except RankTableError as exc:
        raise RankTableError(f"{path}: {exc}") from exc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device_num", default="[0,8)", help="device ids: '[0,8)', '0-7' or '0,1,2,3'")
    parser.add_argument("--server_ip", default=None, help="this server's IP (default: resolved host name)")
    parser.add_argument("--device_ips", default=None, help="comma-separated device IPs, in device order")
    parser.add_argument("--hccn_conf", default="/etc/hccn.conf", help="read device IPs from here when present")
    parser.add_argument("--out", default=None, help="output file (default: hccl_<N>p_<devices>_<ip>.json)")
    parser.add_argument("--validate", metavar="FILE", help="only validate FILE and print its device count")
    args = parser.parse_args(argv)
    try:
        if args.validate:
            print(load_rank_table(args.validate)[1])
            return 0
        devices = parse_device_range(args.device_num)
        if args.device_ips:
            ips = [ip.strip() for ip in args.device_ips.split(",") if ip.strip()]
            if len(ips) != len(devices):
                raise RankTableError(f"{len(ips)} device IPs for {len(devices)} devices")
            device_ips = dict(zip(devices, ips))
        elif os.path.isfile(args.hccn_conf):
            device_ips = read_hccn_conf(args.hccn_conf)
        else:
            raise RankTableError(f"no --device_ips and {args.hccn_conf} does not exist")
        server_ip = args.server_ip or socket.gethostbyname(socket.gethostname())
        table = make_rank_table(devices, device_ips, server_ip)
        validate_rank_table(table)
        out = args.out or f"hccl_{len(devices)}p_{''.join(map(str, devices))}_{server_ip}.json"
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(table, handle, indent=4)
        print(f"rank table for {len(devices)} device(s) written to {out}")
        return 0
    except RankTableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
