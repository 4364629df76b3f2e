"""artmedium.dask.embed: features to Parquet on a cluster, resumable, safe to reread.

The cluster tests use the session's LocalCluster (2 worker processes, loopback,
one thread each); the killed-worker test starts its own. Reference features come
from ``ImageEmbedder.transform`` in this process with one torch thread, as the
workers run (``OMP_NUM_THREADS=1``), and partitions a multiple of ``batch_size``:
the same batches, so the same bits.
"""

import os
import signal
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from artmedium import ImageEmbedder
from artmedium.estimators._feature_cache import FeatureCache

dask = pytest.importorskip("dask")
pytest.importorskip("pyarrow")
distributed = pytest.importorskip("distributed")

import dask.bag as db  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from artmedium.dask import embed  # noqa: E402
from artmedium.dask._embed import MANIFEST, _create_exclusively  # noqa: E402
from conftest import make_toy_images, two_workers  # noqa: E402

SMALL = {
    "backbone": "simple_cnn",
    "weights": None,
    "image_size": 32,
    "batch_size": 4,
    "random_state": 0,
}
PART = 8  # two batches per part


def one_thread(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with one torch thread, as a worker runs it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args, **kwargs)
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """20 toy PNGs (3 parts of 8, 8 and 4): a 1-D object array of paths."""
    pixels, _ = make_toy_images(n_per_class=10, size=40, seed=3)
    folder = tmp_path_factory.mktemp("embed-images")
    paths = []
    for i, img in enumerate(pixels):
        path = folder / f"img{i:02d}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return np.array(paths, dtype=object)


@pytest.fixture(scope="module")
def embedder(images):
    return ImageEmbedder(**SMALL).fit(images)


@pytest.fixture(scope="module")
def expected(embedder, images):
    return one_thread(embedder.transform, images)


def read(result):
    frame = result.read().compute()
    features = frame.drop(columns=["path", "error"]).to_numpy()
    return frame, features


def stats(result):
    """(inode, mtime_ns) of every part: what a rewrite would change."""
    out = []
    for part in result.parts:
        st = os.stat(part)
        out.append((st.st_ino, st.st_mtime_ns))
    return out


# --------------------------------------------------------------- equality
@pytest.mark.parametrize("kind", ["list", "array", "bag", "series"])
def test_equals_transform_in_one_process_in_input_order(
    dask_client, tmp_path, images, embedder, expected, kind
):
    paths = {
        "list": list(images),
        "array": images,
        "bag": db.from_sequence(list(images), npartitions=3),
        "series": dd.from_pandas(pd.Series(list(images), name="p"), npartitions=3),
    }[kind]
    result = embed(embedder, paths, tmp_path / "out", partition_size=PART)
    assert result.computed == (0, 1, 2) and result.skipped == ()
    assert (result.n_images, result.n_errors) == (20, 0)
    assert [os.path.basename(p) for p in result.parts] == [
        "part-000000.parquet",
        "part-000001.parquet",
        "part-000002.parquet",
    ]
    frame, features = read(result)
    assert frame.path.tolist() == list(images)
    assert (frame.error == "").all()
    assert frame.columns[2:].tolist() == list(embedder.get_feature_names_out())
    assert features.dtype == np.float32
    np.testing.assert_array_equal(features, expected)
    # dask's own reader of the folder sees the same rows in the same order.
    again = dd.read_parquet(str(tmp_path / "out")).compute()
    assert again.path.tolist() == list(images)


def test_an_unfitted_embedder_is_fitted_on_a_clone(tmp_path, images, expected):
    emb = ImageEmbedder(**SMALL)
    result = one_thread(
        embed, emb, images, tmp_path / "out", partition_size=PART, scheduler="sync"
    )
    assert not hasattr(emb, "backbone_")
    np.testing.assert_array_equal(read(result)[1], expected)


def test_a_bad_image_gives_an_error_row_and_every_other_row(
    dask_client, tmp_path, images, embedder
):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    missing = str(tmp_path / "missing.png")
    paths = list(images[:10]) + [str(bad), missing] + list(images[10:])
    result = embed(embedder, paths, tmp_path / "out", partition_size=PART)
    assert (result.n_images, result.n_errors) == (22, 2)
    frame, features = read(result)
    assert frame.path.tolist() == paths
    errors = frame.error.tolist()
    assert errors[10].startswith(f"cannot read image {bad}:")
    assert errors[11] == f"cannot read image {missing}: missing (no such file)"
    assert errors[:10] == [""] * 10 and errors[12:] == [""] * 10
    assert np.isnan(features[10:12]).all()
    # Each other row is what transform gives the readable images of its part
    # (which transform itself refuses to embed along with the bad ones).
    with pytest.raises(ValueError, match=r"2 image\(s\) in X could not be read"):
        embedder.transform(paths[8:16])
    for start in range(0, len(paths), PART):
        rows = [i for i in range(start, min(start + PART, len(paths))) if not errors[i]]
        ref = one_thread(embedder.transform, [paths[i] for i in rows])
        np.testing.assert_array_equal(features[rows], ref)


def test_a_part_of_unreadable_images_only(tmp_path, embedder):
    paths = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    result = embed(embedder, paths, tmp_path / "out", scheduler="sync")
    frame, features = read(result)
    assert result.n_errors == 2 and np.isnan(features).all()
    assert features.shape == (2, embedder.n_features_out_)


# --------------------------------------------------------------- resuming
def test_a_rerun_computes_nothing_and_a_deleted_part_only_itself(
    dask_client, tmp_path, images, embedder, expected
):
    out = tmp_path / "out"
    first = embed(embedder, images, out, partition_size=PART)
    before = stats(first)
    again = embed(embedder, images, out, partition_size=PART)
    assert again.computed == () and again.skipped == (0, 1, 2)
    assert stats(again) == before  # no part rewritten
    os.unlink(first.parts[1])
    third = embed(embedder, images, out, partition_size=PART)
    assert third.computed == (1,) and third.skipped == (0, 2)
    after = stats(third)
    assert after[0] == before[0] and after[2] == before[2]
    np.testing.assert_array_equal(read(third)[1], expected)
    # Nothing but the parts and the manifest is left (no temporary file).
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST, *(os.path.basename(p) for p in first.parts)]
    )


def test_a_changed_image_recomputes_its_part_only(tmp_path, images, embedder):
    folder = tmp_path / "imgs"
    folder.mkdir()
    paths = []
    for i, src in enumerate(images[:12]):
        paths.append(str(folder / f"{i}.png"))
        Image.open(src).save(paths[-1])
    out = tmp_path / "out"
    first = embed(embedder, paths, out, partition_size=PART, scheduler="sync")
    before = stats(first)
    Image.open(images[15]).save(paths[9])  # another image under the same name
    second = embed(embedder, paths, out, partition_size=PART, scheduler="sync")
    assert second.computed == (1,)
    assert stats(second)[0] == before[0]
    features = read(second)[1]
    np.testing.assert_array_equal(
        features[8:], one_thread(embedder.transform, paths[8:])
    )
    # A shorter input drops the parts past its end; a longer one adds parts.
    third = embed(embedder, paths[:8], out, partition_size=PART, scheduler="sync")
    assert third.computed == () and len(third.parts) == 1
    assert not os.path.exists(first.parts[1])
    assert dd.read_parquet(str(out)).compute().path.tolist() == paths[:8]


def test_a_corrupt_or_foreign_part_is_recomputed(tmp_path, images, embedder, expected):
    out = tmp_path / "out"
    first = embed(embedder, images, out, partition_size=PART, scheduler="sync")
    parts = first.parts
    # Truncated (the footer is gone) and overwritten with other bytes.
    with open(parts[0], "r+b") as fh:
        fh.truncate(os.path.getsize(parts[0]) // 2)
    with open(parts[1], "wb") as fh:
        fh.write(b"PAR1" + b"\0" * 100 + b"PAR1")
    # A well-formed Parquet file with the right columns and our footer entry,
    # plus pandas metadata: what a reader would act on is never trusted.
    table = pq.read_table(parts[2])
    meta = dict(table.schema.metadata)
    meta[b"pandas"] = b'{"index_columns": [], "columns": []}'
    pq.write_table(table.replace_schema_metadata(meta), parts[2])
    assert set(pq.read_metadata(parts[2]).metadata) >= {b"pandas", b"ARROW:schema"}
    second = embed(embedder, images, out, partition_size=PART, scheduler="sync")
    assert second.computed == (0, 1, 2)
    np.testing.assert_array_equal(read(second)[1], expected)
    # What we wrote has our entry only: no Arrow schema, no pandas metadata.
    for part in second.parts:
        assert set(pq.read_metadata(part).metadata) == {b"artmedium.embed"}


def test_another_embedder_or_partition_size_or_folder_is_refused(
    tmp_path, images, embedder
):
    out = tmp_path / "out"
    embed(embedder, images[:4], out, partition_size=4, scheduler="sync")
    other = ImageEmbedder(**{**SMALL, "random_state": 1}).fit(images)
    with pytest.raises(ValueError, match="features of another embedder"):
        embed(other, images[:4], out, partition_size=4, scheduler="sync")
    larger = ImageEmbedder(**{**SMALL, "image_size": 48}).fit(images)
    with pytest.raises(ValueError, match="another embedder"):
        embed(larger, images[:4], out, partition_size=4, scheduler="sync")
    with pytest.raises(ValueError, match="partition_size=4; pass that to resume"):
        embed(embedder, images[:4], out, partition_size=8, scheduler="sync")
    # The same embedder's settings that do not change features are welcome.
    same = ImageEmbedder(**{**SMALL, "batch_size": 2, "n_jobs": 2}).fit(images)
    assert embed(same, images[:4], out, partition_size=4, scheduler="sync").skipped
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no _artmedium_embed"):
        embed(embedder, images[:4], theirs, scheduler="sync")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        embed(embedder, images[:4], tmp_path / "file", scheduler="sync")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / MANIFEST).write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a manifest"):
        embed(embedder, images[:4], bad, scheduler="sync")
    # Of two runs starting at once, the second reads the first's manifest.
    before = (out / MANIFEST).read_bytes()
    assert not _create_exclusively(out / MANIFEST, "{}")
    assert (out / MANIFEST).read_bytes() == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_input_errors(tmp_path, images, embedder):
    out = tmp_path / "out"
    with pytest.raises(TypeError, match="wrap it in a list"):
        embed(embedder, images[0], out, scheduler="sync")
    with pytest.raises(ValueError, match="paths is empty"):
        embed(embedder, [], out, scheduler="sync")
    with pytest.raises(TypeError, match=r"paths\[1\] is a bytes, not a path"):
        embed(embedder, [images[0], b"abc"], out, scheduler="sync")
    with pytest.raises(TypeError, match=r"frame\['path'\]"):
        embed(embedder, pd.DataFrame({"p": images}), out, scheduler="sync")
    frame = dd.from_pandas(pd.DataFrame({"p": images}), npartitions=1)
    with pytest.raises(TypeError, match="dask DataFrame; pass its column"):
        embed(embedder, frame, out, scheduler="sync")
    with pytest.raises(ValueError, match="1-D"):
        embed(embedder, images.reshape(2, -1), out, scheduler="sync")
    with pytest.raises(TypeError, match="must be an artmedium.ImageEmbedder"):
        embed(object(), images, out, scheduler="sync")
    with pytest.raises(ValueError, match="partition_size == 0"):
        embed(embedder, images, out, partition_size=0, scheduler="sync")
    with pytest.raises(ValueError, match=r"paths\[0\] .* not valid UTF-8"):
        embed(embedder, [os.fsdecode(b"/tmp/\xff.png")], out, scheduler="sync")
    assert not out.exists()  # nothing written for refused inputs


def test_missing_dask_or_pyarrow_names_the_extra(monkeypatch, tmp_path, images):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r'pip install "artmedium\[dask\]"'):
        embed(ImageEmbedder(**SMALL), images, tmp_path / "out")


# -------------------------------------------------------------- the cluster
class CountingEmbedder(ImageEmbedder):
    """Counts, per process, how many times an embedder was unpickled."""

    unpickled = 0

    def __setstate__(self, state):
        type(self).unpickled += 1
        super().__setstate__(state)


def _unpickled(reset=False):
    cls = sys.modules[__name__].CountingEmbedder
    count = cls.unpickled
    if reset:
        cls.unpickled = 0
    return count


def test_the_embedder_reaches_each_worker_once(dask_client, tmp_path, images):
    emb = CountingEmbedder(**SMALL).fit(images)
    dask_client.run(_unpickled, True)
    result = embed(emb, images, tmp_path / "out", partition_size=2)
    assert len(result.computed) == 10  # ten tasks ...
    counts = dask_client.run(_unpickled)
    assert sum(counts.values()) >= 1
    assert max(counts.values()) == 1, counts  # ... one copy per worker


class SlowEmbedder(ImageEmbedder):
    """Takes its time per part, so that a worker can be killed mid-run."""

    def _transform_images(self, sources):
        time.sleep(0.4)
        return super()._transform_images(sources)


def test_a_killed_worker_loses_no_results(tmp_path, images, expected):
    emb = SlowEmbedder(**SMALL).fit(images)
    out = tmp_path / "out"
    with (
        two_workers() as cluster,
        distributed.Client(cluster) as client,
    ):
        done = {}

        def run():
            try:
                done["result"] = embed(emb, images, out, partition_size=2)
            except BaseException as exc:  # reported in the test's thread
                done["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        # Kill a worker as soon as it is given a part to write.
        deadline = time.monotonic() + 60
        busy = []
        while not busy and time.monotonic() < deadline:
            busy = [
                worker
                for worker, keys in client.processing().items()
                if any(str(key).startswith("_write_part") for key in keys)
            ]
            time.sleep(0.02)
        assert busy, "no worker was given a part to write"
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        written_at_kill = len(list(out.glob("part-*.parquet")))
        thread.join(120)
        assert not thread.is_alive(), "embed hung after the kill"
    if "error" in done:
        raise done["error"]
    assert written_at_kill < 10  # the kill came mid-run
    result = done["result"]
    assert len(result.parts) == 10 and result.n_images == 20
    frame, features = read(result)
    assert frame.path.tolist() == list(images)
    np.testing.assert_array_equal(features, expected)


# ------------------------------------------------- the shared feature cache
def _hammer(location, key, value, n):
    """Write ``value`` under ``key`` ``n`` times (in a worker process)."""
    cache = FeatureCache(location)
    for _ in range(n):
        cache.put(key, value)
    return os.getpid()


def test_concurrent_cache_writers_never_leave_a_torn_or_wrong_file(
    dask_client, tmp_path
):
    # Two processes write the same key at once, each its own value (real
    # writers of one key write equal values; distinct ones show any mixing),
    # while this process reads: every read is whole and one of the two.
    shape = (256, 1024)  # 1 MB: writes long enough to overlap
    values = [np.full(shape, v, np.float32) for v in (1.0, 2.0)]
    key = "same image|same weights"
    workers = sorted(dask_client.scheduler_info()["workers"])
    futures = [
        dask_client.submit(_hammer, str(tmp_path), key, v, 150, workers=[w], pure=False)
        for v, w in zip(values, workers)
    ]
    cache = FeatureCache(tmp_path)
    seen = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn file would warn "ignoring"
        while not all(f.done() for f in futures):
            got = cache.get(key, shape, np.float32)
            if got is not None:
                assert got[0, 0] in (1.0, 2.0)
                assert (got == got[0, 0]).all()
                seen.add(float(got[0, 0]))
    pids = dask_client.gather(futures)
    assert len(set(pids)) == 2  # two processes wrote
    assert seen  # the reader saw entries while they were written
    final = cache.get(key, shape, np.float32)
    assert any(np.array_equal(final, v) for v in values)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [cache.path(key)]  # no temporary file left behind
