"""`artmedium fetch-tate` against the local test server of test_fetch."""

import random
import time

import pytest
from click.testing import CliRunner

from artmedium.cli import main
from conftest import run_in_thread
from test_fetch import (  # noqa: F401 (fixture)
    TateServer,
    interrupt_at_first_result,
    only_local_connections,
)


@pytest.fixture
def server():
    srv = TateServer(["OK001", "OK002", "OK003"])
    yield srv
    srv.close()


def invoke(srv, home, *extra):
    args = [
        "fetch-tate",
        "--data-home",
        str(home),
        "--metadata-url",
        srv.metadata_url,
        "--url-prefix",
        srv.url,
        *extra,
    ]
    return CliRunner().invoke(main, args)


def test_all_good_exits_0_and_prints_the_summary(server, tmp_path):
    result = invoke(server, tmp_path / "tate", "--n-jobs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert "3 downloaded, 0 already present, 0 failed" in result.output
    assert sorted(p.name for p in (tmp_path / "tate" / "images").iterdir()) == [
        "OK001_8.jpg",
        "OK002_8.jpg",
        "OK003_8.jpg",
    ]
    again = invoke(server, tmp_path / "tate", "--quiet")
    assert again.exit_code == 0
    assert "0 downloaded, 3 already present, 0 failed" in again.output


def test_any_failure_exits_1_with_each_failure_printed(server, tmp_path):
    server.set_collection(["OK001", "MISSING01", "HTML01"])
    result = invoke(server, tmp_path / "tate", "--quiet")
    assert result.exit_code == 1
    assert "1 downloaded, 0 already present, 2 failed" in result.output
    assert (
        f"{server.url}/art/images/work/M/MIS/MISSING01_8.jpg: HTTP 404" in result.output
    )
    assert "HTML01_8.jpg: not a decodable image" in result.output
    assert "2 thumbnail(s) failed" in result.output


def test_max_images_and_classes_all(server, tmp_path):
    result = invoke(server, tmp_path / "tate", "--max-images", "1", "--classes", "all")
    assert result.exit_code == 0, result.output
    assert "1 downloaded" in result.output
    assert len(list((tmp_path / "tate" / "images").iterdir())) == 1


def test_metadata_failure_exits_1_naming_the_url(server, tmp_path):
    args = ["fetch-tate", "--data-home", str(tmp_path / "t"), "--quiet"]
    url = server.url + "/missing.csv"
    result = CliRunner().invoke(main, [*args, "--metadata-url", url])
    assert result.exit_code == 1
    assert url in result.output and "404" in result.output


@pytest.mark.parametrize(
    "bad",
    [
        ["--classes", "some"],
        ["--n-jobs", "0"],
        ["--max-images", "-3"],
        ["--max-images", "many"],
        ["--no-such-option"],
    ],
)
def test_usage_errors_exit_2_without_any_request(server, tmp_path, bad):
    result = invoke(server, tmp_path / "tate", *bad)
    assert result.exit_code == 2
    assert server.requests == []


def test_help_lists_the_options():
    result = CliRunner().invoke(main, ["fetch-tate", "--help"])
    assert result.exit_code == 0
    for option in (
        "--data-home",
        "--classes",
        "--max-images",
        "--n-jobs",
        "--url-prefix",
        "--metadata-url",
        "--deadline",
        "--quiet",
    ):
        assert option in result.output


def test_deadline_bounds_a_slow_thumbnail(server, tmp_path):
    server.set_collection(["OK001", "SLOW01"])
    start = time.monotonic()
    result = invoke(server, tmp_path / "tate", "--deadline", "0.5", "--quiet")
    assert time.monotonic() - start < 3
    assert result.exit_code == 1
    assert "1 downloaded, 0 already present, 1 failed" in result.output
    assert "SLOW01_8.jpg: not complete within the 0.5 s deadline" in result.output


@pytest.mark.parametrize("bad", ["0", "-1", "soon"])
def test_invalid_deadline_is_a_usage_error(server, tmp_path, bad):
    result = invoke(server, tmp_path / "tate", "--deadline", bad)
    assert result.exit_code == 2
    assert server.requests == []


def test_ctrl_c_prints_what_finished_and_exits_130(server, tmp_path, monkeypatch):
    server.set_collection(["OK001", "SLOW01", "HANG01", "SLOW02"])
    interrupted = interrupt_at_first_result(monkeypatch)
    result = invoke(server, tmp_path / "tate", "--n-jobs", "4", "--quiet")
    assert time.monotonic() - interrupted[0] < 2
    assert result.exit_code == 130, result.output
    assert (
        "1 downloaded, 0 already present, 0 failed, 3 not finished (interrupted)"
        in (result.output)
    )
    assert "Interrupted; run the same command again to resume." in result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output


def test_ctrl_c_during_the_metadata_exits_130(server, tmp_path, monkeypatch):
    from artmedium.datasets import _fetch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_fetch, "download", interrupted)
    result = invoke(server, tmp_path / "tate", "--quiet")
    assert result.exit_code == 130
    assert result.output == "Interrupted; run the same command again to resume.\n"


def test_binary_metadata_exits_1_naming_the_file(server, tmp_path):
    home = tmp_path / "tate"
    home.mkdir()
    (home / "artwork_data.csv").write_bytes(random.Random(0).randbytes(4096))
    result = invoke(server, home, "--quiet")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {home / 'artwork_data.csv'} is not UTF-8")
    assert len(result.output.splitlines()) == 1


def test_non_http_metadata_url_exits_1_before_any_request(server, tmp_path):
    args = ["fetch-tate", "--data-home", str(tmp_path / "t"), "--quiet"]
    result = CliRunner().invoke(main, [*args, "--metadata-url", "file:///etc/passwd"])
    assert result.exit_code == 1
    assert "metadata_url must be an http(s) URL" in result.output
    assert not (tmp_path / "t" / "artwork_data.csv").exists()


def test_one_bad_header_fails_one_file_and_keeps_the_summary(server, tmp_path):
    server.set_collection(["OK001", "BADLEN01", "OK002"])
    result = invoke(server, tmp_path / "tate", "--quiet")
    assert result.exit_code == 1
    assert "2 downloaded, 0 already present, 1 failed" in result.output
    url = f"{server.url}/art/images/work/B/BAD/BADLEN01_8.jpg"
    assert f"  failed: {url}: bad Content-Length header 'abc'" in result.output
    assert "invalid literal" not in result.output
    assert result.output.endswith("Error: 1 thumbnail(s) failed\n")


def test_a_server_dripping_its_headers_is_stopped_at_the_deadline(server, tmp_path):
    # The CLI keeps the 30 s socket timeout; a byte every 0.1 s never trips it.
    server.set_collection(["OK001", "DRIPHEADER01"])
    result = run_in_thread(
        lambda: invoke(server, tmp_path / "tate", "--deadline", "1", "--quiet")
    )
    assert result.exit_code == 1
    assert "1 downloaded, 0 already present, 1 failed" in result.output
    assert "DRIPHEADER01_8.jpg: not complete within the 1 s deadline" in result.output


def test_no_escape_sequence_from_the_server_reaches_the_terminal(server, tmp_path):
    server.set_collection(["OK001", "PWNED01"])
    result = invoke(server, tmp_path / "tate", "--quiet")
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "PWNED01_8.jpg: 'HTTP 403 \\x1b]0;PWNED\\x07'" in result.output
    args = ["fetch-tate", "--data-home", str(tmp_path / "t"), "--quiet"]
    url = server.url + "/PWNED.csv"
    metadata = CliRunner().invoke(main, [*args, "--metadata-url", url])
    assert metadata.exit_code == 1
    assert metadata.output == f"Error: {url}: 'HTTP 403 \\x1b]0;PWNED\\x07'\n"
