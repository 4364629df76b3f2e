"""`artmedium fetch-tate` against the local test server of test_fetch."""

import pytest
from click.testing import CliRunner

from artmedium.cli import main
from test_fetch import TateServer, only_local_connections  # noqa: F401 (fixture)


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
        "--quiet",
    ):
        assert option in result.output
