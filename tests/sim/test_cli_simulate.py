"""``chainswarm simulate``: JSON output, table output, errors as messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainswarm.cli.main import main
from chainswarm.cli.simulate import POLICY_CHOICES
from chainswarm.sim.policies import POLICIES
from chainswarm.sim.workload import synthetic_trace, write_trace

SMALL = ["--servers", "20", "--high-fraction", "0.2", "--rate", "0.2", "--jobs", "200"]


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(["simulate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_the_documented_keys_and_is_deterministic(capsys: pytest.CaptureFixture[str]):
    first = _json(capsys, [*SMALL, "--policy", "proposed", "--seed", "3"])
    for key in ("response_mean", "response_p50", "response_p95", "response_p99", "wait_mean", "service_mean"):
        assert isinstance(first[key], float) and first[key] >= 0
    assert first["response_mean"] == pytest.approx(first["wait_mean"] + first["service_mean"])
    assert first["jobs"] == 200 and first["policy"] == "proposed"
    assert _json(capsys, [*SMALL, "--policy", "proposed", "--seed", "3"]) == first


def test_table_output_lists_the_three_times(capsys: pytest.CaptureFixture[str]):
    assert main(["simulate", *SMALL, "--policy", "petals"]) == 0
    out = capsys.readouterr().out
    for word in ("response", "waiting", "service", "median", "p99"):
        assert word in out


def test_trace_replay_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "trace.csv"
    write_trace(path, synthetic_trace(100, rate=0.3, seed=2))
    result = _json(capsys, ["--policy", "bprr", "--trace", str(path)])
    assert result["jobs"] == 100


def test_infeasible_setting_is_a_message_and_exit_1(capsys: pytest.CaptureFixture[str]):
    assert main(["simulate", "--policy", "jffc-only", "--jobs", "10"]) == 1
    err = capsys.readouterr().err
    assert "infeasible" in err and "Traceback" not in err


def test_unreadable_trace_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["simulate", "--trace", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read trace" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--servers", "0"],
        ["--servers", "ten"],
        ["--high-fraction", "1.5"],
        ["--rate", "-1"],
        ["--rate", "inf"],
        ["--policy", "random"],
        ["--jobs", "0"],
        ["--target-load", "1"],
        ["--petals-refresh", "-5"],
    ],
)
def test_bad_flags_are_argparse_errors(argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", *argv])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_offers_every_policy():
    assert POLICY_CHOICES == POLICIES
