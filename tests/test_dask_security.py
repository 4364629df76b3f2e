"""artmedium.dask with someone else writing into its folders.

The output folder of ``embed`` may be on a shared file system: whatever is
planted there (links, FIFOs, folders named like parts, forged manifests and
footers) must run no code, hang nothing, and either be recomputed or refused
with an error naming it. All in this process (``scheduler="synchronous"``).
"""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from artmedium import ImageEmbedder

pytest.importorskip("dask")
pytest.importorskip("pyarrow")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from artmedium.dask import embed  # noqa: E402
from artmedium.dask._embed import (  # noqa: E402
    MANIFEST,
    PART_KEY,
    _names_digest,
    _remove_stale_parts,
    _trusted_part,
)

SMALL = {
    "backbone": "simple_cnn",
    "weights": None,
    "image_size": 32,
    "batch_size": 2,
    "random_state": 0,
}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sec-images")
    paths = []
    for i in range(4):
        path = folder / f"img{i}.png"
        pixels = np.random.default_rng(i).integers(0, 256, (40, 40, 3), np.uint8)
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def embedder(images):
    return ImageEmbedder(**SMALL).fit(np.array(images, dtype=object))


def run(embedder, images, out):
    return embed(embedder, images, out, partition_size=2, scheduler="synchronous")


@pytest.fixture
def done(embedder, images, tmp_path):
    """A finished output folder of two parts."""
    return run(embedder, images, tmp_path / "out")


def rewrite_footer(file, entries):
    """The part's rows again, under a footer of ``entries`` only."""
    table = pq.read_table(file)
    with pq.ParquetWriter(file, table.schema, store_schema=False) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata(entries)


# -------------------------------------------------------------- the manifest
def test_a_deeply_nested_manifest_is_a_clear_error(embedder, images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("[" * 100_000)
    with pytest.raises(ValueError, match=MANIFEST):
        run(embedder, images, out)


def test_manifest_text_reaches_the_error_quoted_and_cut(embedder, images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    forged = {
        "format": "artmedium.dask.embed",
        "version": 1,
        "embedder": "x",
        "backbone": "\x1b[2J\x1b]0;pwned\x07" + "A" * 100_000,
    }
    (out / MANIFEST).write_text(json.dumps(forged))
    with pytest.raises(ValueError, match="another embedder") as info:
        run(embedder, images, out)
    message = str(info.value)
    assert "\x1b" not in message and "\x07" not in message
    assert len(message) < 1000


@pytest.mark.parametrize("kind", ["fifo", "symlink", "huge", "dir"])
def test_a_planted_manifest_is_refused_without_hanging(
    embedder, images, tmp_path, kind
):
    out = tmp_path / "out"
    out.mkdir()
    manifest = out / MANIFEST
    if kind == "fifo":
        os.mkfifo(manifest)
    elif kind == "symlink":
        os.symlink("/dev/zero", manifest)
    elif kind == "huge":
        with open(manifest, "wb") as fp:
            fp.truncate(1 << 40)  # sparse: a terabyte that takes no disk
    else:
        manifest.mkdir()
    with pytest.raises(ValueError, match=MANIFEST):
        run(embedder, images, out)


# ------------------------------------------------------------------ the parts
def test_a_deeply_nested_footer_gets_its_part_recomputed(done, embedder, images):
    rewrite_footer(done.parts[0], {PART_KEY: "[" * 100_000})
    again = run(embedder, images, done.path)
    assert again.computed == (0,)


@pytest.mark.parametrize("kind", ["fifo", "zero", "dir-link", "pandas", "extension"])
def test_a_planted_part_is_not_trusted(done, embedder, images, tmp_path, kind):
    part = done.parts[1]
    names = _names_digest(
        [str(c) for c in embedder.get_feature_names_out()]
    )  # what embed passes
    key = json.loads(pq.read_metadata(part).metadata[PART_KEY.encode()])["embedder"]
    os.remove(part)
    if kind == "fifo":
        os.mkfifo(part)
    elif kind == "zero":
        os.symlink("/dev/zero", part)
    elif kind == "dir-link":
        os.symlink(tmp_path, part)
    else:
        table = pq.read_table(done.parts[0])
        if kind == "pandas":
            table = pa.Table.from_pandas(table.to_pandas().set_index("path"))
        else:
            table = table.replace_schema_metadata({b"ARROW:extension:name": b"x"})
        pq.write_table(table, part)
    resolved = [os.path.abspath(p) for p in images[2:]]
    assert _trusted_part(part, images[2:], resolved, key, names) is None
    assert run(embedder, images, done.path).computed == (1,)


def test_stale_part_links_go_but_their_targets_stay(done, tmp_path):
    target = tmp_path / "someone-elses.parquet"
    target.write_bytes(b"keep me")
    os.symlink(target, os.path.join(done.path, "part-000007.parquet"))
    _remove_stale_parts(type(tmp_path)(done.path), 2)
    assert target.read_bytes() == b"keep me"
    assert not os.path.lexists(os.path.join(done.path, "part-000007.parquet"))


# ------------------------------------------------------------------ read()
def test_read_refuses_a_part_whose_pages_are_corrupt(done):
    part = done.parts[0]
    chunk = pq.read_metadata(part).row_group(0).column(2)
    data = bytearray(open(part, "rb").read())
    # A bit of the last page of a feature column: its bytes still decompress
    # and decode (dd.read_parquet returned another float for it), but the
    # page's checksum no longer matches.
    data[chunk.data_page_offset + chunk.total_compressed_size - 2] ^= 0x01
    with open(part, "wb") as fp:
        fp.write(data)
    with pytest.raises(ValueError, match=r"part-000000\.parquet.*(checksum|CRC)"):
        done.read().compute(scheduler="synchronous")


@pytest.mark.parametrize("kind", ["symlink", "fifo", "pandas"])
def test_read_refuses_a_part_swapped_after_embed(done, tmp_path, kind):
    part = done.parts[1]
    foreign = tmp_path / "foreign.parquet"
    frame = pq.read_table(done.parts[0]).to_pandas()
    frame["error"] = "forged"
    pq.write_table(pa.Table.from_pandas(frame.set_index("path")), foreign)
    os.remove(part)
    if kind == "symlink":
        os.symlink(foreign, part)
    elif kind == "fifo":
        os.mkfifo(part)
    else:
        shutil.copy(foreign, part)
    with pytest.raises(ValueError, match=r"part-000001\.parquet"):
        done.read().compute(scheduler="synchronous")


def test_read_gives_what_embed_wrote(done, embedder, images):
    frame = done.read().compute(scheduler="synchronous")
    assert frame["path"].tolist() == images
    assert frame.columns.tolist()[2:] == [
        str(c) for c in embedder.get_feature_names_out()
    ]
    assert (frame.dtypes.iloc[2:] == np.float32).all()


# ------------------------------------------------------------------ predict
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_model_folder_swapped_during_load_is_not_cached_as_the_first(
    tmp_path, monkeypatch, backend
):
    # The cache key is made from the sidecar read first; the files loaded are
    # checked against that sidecar, so another model swapped in meanwhile
    # fails its hashes instead of being cached under the first one's key.
    from artmedium.dask import _predict
    from artmedium.persistence import default_model_dir, default_tagger_dir

    if not os.path.isdir(default_tagger_dir()):
        pytest.skip("the embedded tagger is not installed")
    folder, other, aside = tmp_path / "m", tmp_path / "other", tmp_path / "aside"
    shutil.copytree(default_model_dir(), folder)
    shutil.copytree(default_tagger_dir(), other)
    real_load = _predict._load

    def swapping_load(name, info, backend, threads):
        os.rename(folder, aside)
        os.rename(other, folder)
        try:
            return real_load(name, info, backend, threads)
        finally:
            os.rename(folder, other)
            os.rename(aside, folder)

    monkeypatch.setattr(_predict, "_load", swapping_load)
    monkeypatch.setattr(_predict, "_MODELS", type(_predict._MODELS)())
    spec = _predict._Saved(str(folder), backend, 1)
    with pytest.raises(ValueError, match="was modified"):
        _predict._saved_predictor(spec, {"top_k": 1})
    assert not _predict._MODELS
    # Once the folder is itself again, it loads as what it is.
    monkeypatch.setattr(_predict, "_load", real_load)
    predictor = _predict._saved_predictor(spec, {"top_k": 1})
    assert "Classifier" in type(predictor.model).__name__
