import json

import numpy as np
import pytest

from gputopic import GPUTopic
from gputopic.exceptions import InputError, ModelFileError

from helpers import TOY_DOCS, HashingEncoder, fast_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = fast_model().fit(TOY_DOCS)
    path = tmp_path_factory.mktemp("model") / "m"
    model.save(path)
    return model, path


def test_round_trip_keeps_topics_and_tensors(saved):
    model, path = saved
    loaded = GPUTopic.load(path, embedding_model=HashingEncoder())
    assert loaded.get_topics() == model.get_topics()
    assert loaded.topic_sizes_ == model.topic_sizes_
    assert loaded.topic_labels_ == model.topic_labels_
    assert loaded.vocabulary_ == model.vocabulary_
    assert loaded.get_representative_docs() == model.get_representative_docs()
    np.testing.assert_allclose(loaded.topic_embeddings_, model.topic_embeddings_, rtol=1e-6)
    np.testing.assert_allclose(loaded.c_tf_idf_.toarray(), model.c_tf_idf_.toarray())
    np.testing.assert_array_equal(loaded.topics_, model.topics_)
    assert loaded.get_params(deep=False)["min_topic_size"] == model.min_topic_size
    assert loaded.get_topic_info().equals(model.get_topic_info())


def test_loaded_model_transforms_by_topic_similarity(saved):
    model, path = saved
    loaded = GPUTopic.load(path, embedding_model=HashingEncoder())
    topics, sims = loaded.transform(TOY_DOCS)
    assert (topics == model.topics_).mean() >= 0.95
    assert sims.shape == (len(TOY_DOCS),) and (sims <= 1.0001).all()


def _tensor_file(path):
    return path / json.loads((path / "gputopic.json").read_text())["tensors"]["file"]


def test_only_json_and_safetensors_are_written(saved):
    _, path = saved
    config = json.loads((path / "gputopic.json").read_text())
    assert config["format"] == "gputopic-model" and "numpy" in config["versions"]
    # the tensor file is named after its checksum, so a new save never overwrites the one the JSON names
    assert config["tensors"]["file"] == f"gputopic-{config['tensors']['sha256'][:16]}.safetensors"
    assert sorted(p.name for p in path.iterdir()) == sorted(["gputopic.json", config["tensors"]["file"]])


def test_saved_files_follow_the_umask(tmp_path):
    import os

    model = fast_model().fit(TOY_DOCS)
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "m")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "m").iterdir()}
    assert set(modes.values()) == {0o640}, modes  # both files alike (safetensors' own writer makes 0600)


def test_format_1_folders_still_load(saved, tmp_path):
    """Folders written before the tensor file was named after its checksum."""
    import hashlib

    model, path = saved
    old = tmp_path / "v1"
    old.mkdir()
    config = json.loads((path / "gputopic.json").read_text())
    (old / "gputopic.safetensors").write_bytes(_tensor_file(path).read_bytes())
    config["format_version"] = 1
    config["tensors"]["file"] = "gputopic.safetensors"
    del config["sizes"]
    (old / "gputopic.json").write_text(json.dumps(config))
    loaded = GPUTopic.load(old, embedding_model=HashingEncoder())
    assert loaded.get_topics() == model.get_topics()
    loaded.save(old)  # saving over it moves it to the current format and removes the old tensor file
    config = json.loads((old / "gputopic.json").read_text())
    assert config["format_version"] == 2 and not (old / "gputopic.safetensors").exists()
    assert hashlib.sha256(_tensor_file(old).read_bytes()).hexdigest() == config["tensors"]["sha256"]
    assert GPUTopic.load(old, embedding_model=HashingEncoder()).get_topics() == model.get_topics()


def test_a_loaded_model_saves_again_unchanged(saved, tmp_path):
    """Re-saving keeps the idf and records that a custom embedding model must be passed back."""
    model, path = saved
    loaded = GPUTopic.load(path)  # the custom encoder is not passed
    loaded.save(tmp_path / "again")
    again = GPUTopic.load(tmp_path / "again")
    np.testing.assert_array_equal(again._state.saved_idf, model.ctfidf_model_.idf_)
    with pytest.raises(InputError, match="no embedding model to load"):
        again.transform(TOY_DOCS[:2])
    assert _tensor_file(tmp_path / "again").read_bytes() == _tensor_file(path).read_bytes()


def test_custom_embedding_model_must_be_passed_back(saved):
    _, path = saved
    loaded = GPUTopic.load(path)
    assert loaded.transform(TOY_DOCS[:2], embeddings=HashingEncoder().encode(TOY_DOCS[:2]))[0].shape == (2,)
    with pytest.raises(InputError, match=r"no embedding model to load .*GPUTopic.load\(path, embedding_model=...\)"):
        loaded.transform(TOY_DOCS[:2])


def test_bertopic_save_arguments(saved, tmp_path):
    model, _ = saved
    model.save(tmp_path / "named", serialization="pytorch", save_embedding_model="some/model-folder",
               save_ctfidf=False)
    named = GPUTopic.load(tmp_path / "named")
    assert named.embedding_model == "some/model-folder"  # load() would embed with that model
    np.testing.assert_allclose(named.c_tf_idf_.toarray(), model.c_tf_idf_.toarray())  # always kept
    default = fast_model(embedding_model=None).fit(TOY_DOCS, embeddings=HashingEncoder().encode(TOY_DOCS))
    default.save(tmp_path / "none", save_embedding_model=False)  # the bundled model, not recorded
    bare = GPUTopic.load(tmp_path / "none")
    with pytest.raises(InputError, match="saved with save_embedding_model=False"):
        bare.transform(TOY_DOCS[:2])
    assert bare.transform(TOY_DOCS[:2], embeddings=HashingEncoder().encode(TOY_DOCS[:2]))[0].shape == (2,)
    with pytest.raises(InputError, match="gputopic never writes pickles"):
        model.save(tmp_path / "p", serialization="pickle")
    with pytest.raises(InputError, match="save_embedding_model must be True, False or a model name"):
        model.save(tmp_path / "p", save_embedding_model=HashingEncoder())


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_corrupted_tensor_file_is_refused(saved, tmp_path):
    bad = _copy(saved[1], tmp_path / "bad")
    raw = bytearray(_tensor_file(bad).read_bytes())
    raw[-10] ^= 0xFF
    _tensor_file(bad).write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="does not match the checksum"):
        GPUTopic.load(bad)


def test_truncated_tensor_file_is_refused(saved, tmp_path):
    bad = _copy(saved[1], tmp_path / "bad")
    raw = _tensor_file(bad).read_bytes()
    _tensor_file(bad).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="corrupted or truncated"):
        GPUTopic.load(bad)


def test_truncated_json_is_refused(saved, tmp_path):
    bad = _copy(saved[1], tmp_path / "bad")
    text = (bad / "gputopic.json").read_text()
    (bad / "gputopic.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        GPUTopic.load(bad)


def test_newer_format_is_refused(saved, tmp_path):
    bad = _copy(saved[1], tmp_path / "bad")
    config = json.loads((bad / "gputopic.json").read_text())
    config["format_version"] = 99
    (bad / "gputopic.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="format version 99; this gputopic reads up to 2"):
        GPUTopic.load(bad)


def test_missing_tensor_file_is_refused(saved, tmp_path):
    bad = _copy(saved[1], tmp_path / "bad")
    _tensor_file(bad).unlink()
    with pytest.raises(ModelFileError, match="is missing: the saved model is incomplete"):
        GPUTopic.load(bad)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelFileError, match="no such directory"):
        GPUTopic.load(tmp_path / "nothing")
    with pytest.raises(ModelFileError, match="gputopic.json is missing"):
        GPUTopic.load(tmp_path)


def test_inconsistent_files_are_refused(saved, tmp_path):
    bad = _copy(saved[1], tmp_path / "bad")
    config = json.loads((bad / "gputopic.json").read_text())
    config["vocabulary"] = config["vocabulary"][:-1]
    (bad / "gputopic.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"the c-TF-IDF shape \(3, \d+\) does not match the 3 topics"):
        GPUTopic.load(bad)


def test_idf_of_another_length_is_refused(saved, tmp_path):
    import hashlib

    from safetensors.numpy import load_file, save_file

    bad = _copy(saved[1], tmp_path / "bad_idf")
    tensors = load_file(str(_tensor_file(bad)))
    assert "ctfidf.idf" in tensors
    tensors["ctfidf.idf"] = tensors["ctfidf.idf"][:-1].copy()
    config = json.loads((bad / "gputopic.json").read_text())
    _tensor_file(bad).unlink()
    save_file(tensors, str(bad / "t"))
    config["tensors"]["sha256"] = digest = hashlib.sha256((bad / "t").read_bytes()).hexdigest()
    config["tensors"]["file"] = name = f"gputopic-{digest[:16]}.safetensors"
    (bad / "t").rename(bad / name)
    (bad / "gputopic.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"tensor ctfidf.idf has shape \(\d+,\), but"):
        GPUTopic.load(bad)


def test_save_refuses_what_load_would_refuse(saved, tmp_path):
    """A parameter set to an invalid value after fit, or a damaged state, is not written."""
    model, _ = saved
    broken = GPUTopic.load(saved[1], embedding_model=HashingEncoder())
    broken.min_topic_size = 1
    with pytest.raises(ModelFileError, match=r"params.min_topic_size must be an integer in \[2, .*set a valid value"):
        broken.save(tmp_path / "m")
    broken.min_topic_size = 2
    damaged = broken._state.topic_embeddings.copy()  # the state save writes, damaged
    damaged[0, 0] = np.nan
    broken._state.topic_embeddings = damaged
    with pytest.raises(ModelFileError, match="tensor topic_embeddings holds NaN or infinite values"):
        broken.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()  # nothing was created


def test_numpy_scalars_in_parameters_are_saved_as_numbers(tmp_path):
    model = fast_model(random_state=np.int64(3), top_n_words=np.int32(5)).fit(TOY_DOCS)
    model.save(tmp_path / "m")
    loaded = GPUTopic.load(tmp_path / "m")
    assert loaded.random_state == 3 and loaded.top_n_words == 5


def test_merged_partial_fit_model_saves_and_loads(tmp_path):
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.decomposition import IncrementalPCA

    online = fast_model(umap_model=IncrementalPCA(n_components=5),
                        hdbscan_model=MiniBatchKMeans(n_clusters=6, random_state=0, n_init=3))
    online.partial_fit(TOY_DOCS[:40])
    online.partial_fit(TOY_DOCS[40:] + TOY_DOCS[:10])
    assert set(online.topic_sizes_) - set(np.unique(online.topics_).tolist())  # a topic not in the last batch
    merged = GPUTopic.merge_models([online, fast_model().fit(TOY_DOCS)])
    merged.save(tmp_path / "m")
    assert GPUTopic.load(tmp_path / "m").topic_sizes_ == merged.topic_sizes_
