"""Per-series scales: carried as plain arrays, checked on decoding, applied per series."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from foundation.errors import ArtifactError
from foundation.settings.worker import SwapPolicy
from lstmcore.acceptance import accept
from lstmcore.artifact import Artifact, decode_artifact, encode_artifact, seal
from lstmcore.series_scales import encode_ids, series_scale_fields
from lstmcore.serving import ServingModel
from tests.unit.test_artifact import LIMITS, make_artifact
from worker.hotpath import EventBatch, apply_swap, process
from worker.state_store import StateStore

TS = datetime(2026, 1, 1, tzinfo=UTC)

IDS = ["small", "große", "large"]  # a non-ASCII id: the bytes are UTF-8, cut by end offsets


def with_scales(series: dict[str, Any] | None = None, /, **replace: Any) -> Artifact:
    """``make_artifact`` plus per-series scales fitted on ``series``; ``replace`` swaps arrays
    before sealing (so the checksum matches whatever they hold)."""
    base = make_artifact(kind="difference")
    rng = np.random.default_rng(3)
    series = series or {
        sid: np.cumsum(rng.normal(0, s, (40, 1)), axis=0)
        for sid, s in zip(IDS, (0.01, 1.0, 100.0), strict=True)
    }
    field, arrays = series_scale_fields(series, base.manifest.scaler)
    arrays.update(replace)
    fields = base.manifest.model_dump(exclude={"arrays", "sha256"})
    fields["series_scales"] = field
    return seal(fields, {**base.arrays, **arrays})


def _ids(names: list[str]) -> dict[str, Any]:
    utf8, ends = encode_ids(names)
    return {"series/id_utf8": utf8, "series/id_ends": ends}


def test_round_trip_keeps_every_row_exactly() -> None:
    artifact = with_scales()
    back = decode_artifact(encode_artifact(artifact), LIMITS)
    assert back.manifest == artifact.manifest
    for name in ("series/id_utf8", "series/id_ends", "series/mean", "series/scale"):
        np.testing.assert_array_equal(back.arrays[name], artifact.arrays[name])
        assert back.arrays[name].dtype == artifact.arrays[name].dtype
    model = ServingModel.from_artifact(back)
    rows = model.rows_for(["large", "small", "große", "never seen"])
    np.testing.assert_array_equal(rows, [1, 2, 0, 3])  # sorted ids; the pooled row last
    scale = model.series.scale[:, 0]
    assert scale[1] > 1000 * scale[2]  # "large" moves 10,000 times more than "small"
    assert scale[3] == model.manifest.scaler.scale[0]  # an unseen series: the pooled scale


def _members(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def _rezip(raw: bytes, **replace: bytes) -> bytes:
    """The artifact with some members' bytes replaced (member names without ``.npy``)."""
    members = _members(raw) | {f"{name.replace('__', '/')}.npy": b for name, b in replace.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_checksum_covers_the_rows() -> None:
    """Another series' name of the same length, or another scale, under the old checksum."""
    raw = encode_artifact(with_scales())
    renamed = with_scales(**_ids(IDS[::-1]))
    rescaled = with_scales(**{"series/scale": np.array([[1.0], [2.0], [3.0]])})
    for other, member in ((renamed, "series/id_utf8"), (rescaled, "series/scale")):
        forged = _rezip(
            raw, **{member.replace("/", "__"): _members(encode_artifact(other))[f"{member}.npy"]}
        )
        with pytest.raises(ArtifactError) as refused:
            decode_artifact(forged, LIMITS)
        assert refused.value.reason == "checksum"


@pytest.mark.parametrize(
    ("arrays", "reason"),
    [
        ({"series/scale": np.array([[1.0], [0.0], [2.0]])}, "series"),
        ({"series/scale": np.array([[1.0], [-3.0], [2.0]])}, "series"),
        ({"series/scale": np.array([[1.0], [5e-324], [2.0]])}, "series"),
        ({"series/scale": np.array([[1.0], [np.inf], [2.0]])}, "non_finite"),
        ({"series/mean": np.array([[1.0], [np.nan], [2.0]])}, "non_finite"),
        ({"series/id_ends": np.array([5, 3, 17], np.int64)}, "series"),  # not increasing
        ({"series/id_ends": np.array([5, 11, 99], np.int64)}, "series"),  # past the bytes
        ({"series/id_utf8": np.frombuffer(b"\xff" * 16, np.uint8)}, "series"),  # not UTF-8
        (
            _ids(["small", "große", "small"]),
            "series",
        ),
    ],
)
def test_malformed_rows_are_refused(arrays: dict[str, Any], reason: str) -> None:
    hostile = with_scales(**arrays)
    with pytest.raises(ArtifactError) as refused:
        decode_artifact(encode_artifact(hostile), LIMITS)
    assert refused.value.reason == reason


def test_a_row_array_of_the_wrong_length_is_refused() -> None:
    """The manifest says 3 rows, the member holds 2: refused on its header, before reading."""
    short = io.BytesIO()
    np.save(short, np.ones((2, 1)))
    forged = _rezip(encode_artifact(with_scales()), series__scale=short.getvalue())
    with pytest.raises(ArtifactError) as refused:
        decode_artifact(forged, LIMITS)
    assert refused.value.reason == "shape"


def test_a_manifest_declaring_other_rows_than_it_carries_is_refused() -> None:
    artifact = with_scales()
    fields = artifact.manifest.model_dump(exclude={"arrays", "sha256"})
    fields["series_scales"]["count"] = 4
    with pytest.raises(ValueError, match="do not match"):
        seal(fields, dict(artifact.arrays))


def test_the_worker_steps_and_replays_each_series_in_its_own_scale() -> None:
    """The hot path (several series in one wave) equals each series stepped alone with its own
    row; an unseen series uses the pooled row; a replay swap rebuilds each state in its scale."""
    model = ServingModel.from_artifact(with_scales())
    ids = ["large", "small", "unseen", "large", "small", "unseen", "large"]
    values = [500.0, 0.05, 7.0, 480.0, 0.07, 6.0, 530.0]
    batch = EventBatch()
    for offset, (sid, value) in enumerate(zip(ids, values, strict=True)):
        batch.append(sid, TS, [value], 0, offset, 0)
    arch = model.manifest.architecture
    store = StateStore(capacity=8, window=4, features=1, layers=arch.layers, units=arch.units)
    out = process(model, store, batch)

    states: dict[str, Any] = {}
    for index, (sid, value) in enumerate(zip(ids, values, strict=True)):
        h, c, before = states.get(sid, (*model.weights.zero_state(1), None))
        x = np.array([[value]])
        h, c, y = model.forecast(h, c, x, before, model.rows_for([sid]))
        states[sid] = (h, c, x)
        assert out.forecasts[index] == pytest.approx(float(y[0]), abs=1e-9)
    pooled = model.forecast(*model.weights.zero_state(1), np.array([[7.0]]))[2]
    assert out.forecasts[2] == pytest.approx(float(pooled[0]), abs=1e-9)

    apply_swap(store, None, model, SwapPolicy.REPLAY)
    for sid in ("large", "small"):
        state = store.get(sid)
        assert state is not None
        h, _ = model.replay(state.window, sid)
        np.testing.assert_allclose(state.h, h[:, 0], atol=1e-6)
        pooled_h, _ = model.replay(state.window)
        assert not np.allclose(state.h, pooled_h[:, 0], atol=1e-3)  # the row made a difference


def test_an_artifact_without_rows_reads_and_checks_as_before() -> None:
    """No ``series_scales`` key on the wire nor in the checksum: older workers still read it,
    and artifacts published before per-series scales still pass the check."""
    artifact = make_artifact()
    raw = encode_artifact(artifact)
    assert b"series_scales" not in raw
    back = decode_artifact(raw, LIMITS)
    assert back.manifest.series_scales is None
    assert ServingModel.from_artifact(back).series.rows == {}


def test_free_slots_replay_with_the_pooled_row() -> None:
    """An off-loop swap replays every slot of its range, free ones included."""
    model = ServingModel.from_artifact(with_scales())
    arch = model.manifest.architecture
    store = StateStore(capacity=4, window=4, features=1, layers=arch.layers, units=arch.units)
    batch = EventBatch()
    batch.append("large", TS, [500.0], 0, 0, 0)
    process(model, store, batch)
    ids = store.ids_of(np.arange(4))
    assert ids.count("large") == 1 and ids.count(None) == 3
    assert sorted(model.rows_for(ids).tolist()) == [1, 3, 3, 3]


def test_the_workers_acceptance_refuses_hostile_rows_and_gates() -> None:
    """What a worker's watcher and start-up use: refused by reason, the valid version after it
    is served; a gate flag other than 0/1 is refused too."""
    plain = with_scales()
    fields = plain.manifest.model_dump(exclude={"arrays", "sha256"})
    fields["series_scales"]["gated"] = True
    good = seal(fields, {**plain.arrays, "series/use_model": np.array([1, 0, 1], np.uint8)})
    assert accept(encode_artifact(good), 1, 0, LIMITS).series.gated_to_persistence == 1
    for arrays in (
        {"series/use_model": np.array([1, 2, 1], np.uint8)},
        {"series/scale": np.array([[1.0], [0.0], [2.0]])},
    ):
        hostile = seal(fields, {**good.arrays, **arrays})
        with pytest.raises(ArtifactError) as refused:
            accept(encode_artifact(hostile), 1, 0, LIMITS)
        assert refused.value.reason == "series"


def test_a_poisoned_state_of_a_gated_series_restarts_it_and_its_last_value_is_served() -> None:
    """A non-finite step dead-letters a model-served series' event, but a series the gate
    serves persistence gets its (finite) last value; both start again from zero state."""
    plain = with_scales()
    fields = plain.manifest.model_dump(exclude={"arrays", "sha256"})
    fields["series_scales"]["gated"] = True
    use = np.array([1, 1, 0], np.uint8)  # rows of the sorted ids: große, large, small
    gated = seal(fields, {**plain.arrays, "series/use_model": use})
    model = ServingModel.from_artifact(decode_artifact(encode_artifact(gated), LIMITS))
    assert model.series.use_model[model.rows_for(["large", "small"])].tolist() == [True, False]
    arch = model.manifest.architecture
    store = StateStore(capacity=4, window=4, features=1, layers=arch.layers, units=arch.units)
    for value in (1.0, 2.0):
        batch = EventBatch()
        batch.append("large", TS, [value], 0, 0, 0)
        batch.append("small", TS, [value], 0, 1, 0)
        if value == 2.0:
            store.c[:, store.slots_for(["large", "small"])] = np.inf  # poisoned states
        result = process(model, store, batch)
    assert result.non_finite.tolist() == [True, False]
    assert result.forecasts.tolist() == [0.0, 2.0]  # "small": the last value, served
    for sid in ("large", "small"):
        state = store.get(sid)
        assert state is not None and not state.c.any() and len(state.window) == 0
