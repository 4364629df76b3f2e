"""The click entry point: exit codes, --version and info."""

import subprocess
import sys

from click.testing import CliRunner

import artmedium
from artmedium.cli import environment_info, main


def test_version_option_prints_package_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert artmedium.__version__ in result.output


def test_info_lists_stack_versions_threads_and_gpu():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    for key in (
        "artmedium",
        "torch",
        "torchvision",
        "scikit-learn",
        "skorch",
        "Pillow",
    ):
        assert any(line.split()[0] == key for line in result.output.splitlines()), key
    assert "torch threads" in result.output
    assert "gpu" in result.output
    import torch

    assert environment_info()["torch threads"] == str(torch.get_num_threads())


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2


def test_console_script_runs_as_module():
    # The installed entry point and `python -m artmedium.cli` are the same group.
    proc = subprocess.run(
        [sys.executable, "-m", "artmedium.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert artmedium.__version__ in proc.stdout
