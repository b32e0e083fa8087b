"""`HybridRecommender.to_bytes` / `from_bytes`: a round trip answers exactly as before, and any
blob that is not a whole cartwise model is a ValueError, without ever unpickling anything."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from cartwise.recommender import HybridRecommender, Recommendation
from cartwise.recommender.params import HybridParams

from .conftest import CATALOG, answer, gift_shop_history

Array = npt.NDArray[Any]

QUERIES: list[tuple[list[str], str | None]] = [
    (["cakestand"], None),
    (["jam-set"], None),
    (["bunting", "lantern"], None),
    ([], None),
    ([], "alice"),
    (["bunting"], "alice"),
    ([], "bob"),
    (["ghost"], "stranger"),
]

SPRUNG: list[str] = []
"""What the booby-trapped pickles below did; it must stay empty."""


def _spring(tag: str) -> str:
    SPRUNG.append(tag)
    return tag


class _Trap:
    """An object whose unpickling calls `_spring`: proof, if it ever fires, that a model blob
    was unpickled."""

    def __reduce__(self) -> tuple[Callable[[str], str], tuple[str]]:
        return (_spring, ("unpickled",))


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    SPRUNG.clear()
    yield
    SPRUNG.clear()


@pytest.fixture
def blob(model: HybridRecommender) -> bytes:
    return model.to_bytes()


def _members(blob: bytes) -> dict[str, Array]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _npz(members: dict[str, Array], *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=allow_pickle, **members)
    return buf.getvalue()


def _same_answers(got: list[Recommendation], want: list[Recommendation]) -> None:
    assert answer(got) == answer(want)
    assert [r.score for r in got] == pytest.approx([r.score for r in want], rel=1e-6)


def _all_answers(model: HybridRecommender) -> list[list[Recommendation]]:
    return [
        *(model.recommend(cart, customer, k=8) for cart, customer in QUERIES),
        model.trending(k=8),
        *(model.similar_items(product) for product in ("cakestand", "jam-set", "heart")),
    ]


def test_a_round_trip_answers_as_before(model: HybridRecommender) -> None:
    before = _all_answers(model)

    loaded = HybridRecommender.from_bytes(model.to_bytes())

    for got, want in zip(_all_answers(loaded), before, strict=True):
        _same_answers(got, want)


def test_a_round_trip_keeps_the_models_state(model: HybridRecommender) -> None:
    loaded = HybridRecommender.from_bytes(model.to_bytes())

    assert loaded.is_fitted
    assert (loaded.n_items, loaded.n_interactions, loaded.n_customers) == (
        model.n_items,
        model.n_interactions,
        model.n_customers,
    )
    assert all(loaded.knows(item.product_id) for item in CATALOG)
    assert not loaded.knows("ghost")


def test_a_round_trip_keeps_parameters_and_availability() -> None:
    params = HybridParams(popularity_weight=0.2, repeat_weight=0.5, trending_half_life_days=7.0)
    model = HybridRecommender(params).fit(gift_shop_history(), CATALOG)
    model.set_availability({"teacup": False, "gnome": False})
    before = _all_answers(model)

    loaded = HybridRecommender.from_bytes(model.to_bytes())

    assert loaded.params == params
    for got, want in zip(_all_answers(loaded), before, strict=True):
        _same_answers(got, want)


def test_a_model_never_fitted_round_trips_unfitted() -> None:
    loaded = HybridRecommender.from_bytes(HybridRecommender().to_bytes())

    assert not loaded.is_fitted
    assert loaded.n_items == 0
    assert loaded.recommend(["cakestand"]) == []
    assert loaded.trending() == []


def test_the_blob_holds_no_pickled_object(blob: bytes) -> None:
    """Every member loads with pickling refused, and none is an object array."""
    members = _members(blob)

    assert members
    assert all(array.dtype != object for array in members.values())


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not a model", id="text"),
        pytest.param(np.random.default_rng(7).bytes(4096), id="random-bytes"),
        pytest.param(b"PK\x03\x04" + bytes(60), id="zip-magic-then-zeros"),
        pytest.param(b"\x93NUMPY\x01\x00" + bytes(60), id="npy-magic-then-zeros"),
    ],
)
def test_garbage_is_a_value_error(garbage: bytes) -> None:
    with pytest.raises(ValueError):
        HybridRecommender.from_bytes(garbage)


@pytest.mark.parametrize(
    "keep",
    [
        pytest.param(lambda n: 10, id="first-10-bytes"),
        pytest.param(lambda n: n // 2, id="first-half"),
        pytest.param(lambda n: n - 22, id="without-end-record"),
        pytest.param(lambda n: n - 1, id="last-byte-missing"),
    ],
)
def test_a_truncated_blob_is_a_value_error(blob: bytes, keep: Callable[[int], int]) -> None:
    with pytest.raises(ValueError):
        HybridRecommender.from_bytes(blob[: keep(len(blob))])


def test_a_foreign_npz_is_a_value_error() -> None:
    foreign = _npz({"weights": np.ones((3, 3)), "ids": np.asarray(["a", "b", "c"])})

    with pytest.raises(ValueError):
        HybridRecommender.from_bytes(foreign)


def test_a_model_file_of_a_later_schema_is_a_value_error(blob: bytes) -> None:
    members = _members(blob)
    header = json.loads(bytes(members["header"]).decode())
    header["schema_version"] = int(header["schema_version"]) + 1
    members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)

    with pytest.raises(ValueError):
        HybridRecommender.from_bytes(_npz(members))


def _raw_pickle(blob: bytes) -> bytes:
    """Not an npz at all: a bare pickle stream."""
    return pickle.dumps(_Trap())


def _trap_alone(blob: bytes) -> bytes:
    """An npz whose only member is a pickled object array."""
    return _npz({"header": np.asarray([_Trap()], dtype=object)}, allow_pickle=True)


def _trap_in_ids(blob: bytes) -> bytes:
    """A real model file whose product ids were replaced by a pickled object array."""
    members = _members(blob)
    members["ids"] = np.asarray([_Trap() for _ in members["ids"]], dtype=object)
    return _npz(members, allow_pickle=True)


def _trap_in_an_array(blob: bytes) -> bytes:
    """A real model file with one more member: a pickled object array."""
    members = _members(blob)
    members["a_extra"] = np.asarray([_Trap()], dtype=object)
    return _npz(members, allow_pickle=True)


def _load_trusting(crafted: bytes) -> None:
    """Load as a careless reader would, with pickles allowed: this must spring the trap."""
    loaded = np.load(io.BytesIO(crafted), allow_pickle=True)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            for name in loaded.files:
                loaded[name]


@pytest.mark.parametrize(
    "craft",
    [
        pytest.param(_raw_pickle, id="bare-pickle"),
        pytest.param(_trap_alone, id="object-array-alone"),
        pytest.param(_trap_in_ids, id="object-array-as-ids"),
        pytest.param(_trap_in_an_array, id="object-array-beside-a-real-model"),
    ],
)
def test_a_pickled_object_array_is_refused_unopened(
    blob: bytes, craft: Callable[[bytes], bytes]
) -> None:
    crafted = craft(blob)
    _load_trusting(crafted)
    assert SPRUNG, "the crafted blob must hold a live pickle for this test to mean anything"
    SPRUNG.clear()

    with pytest.raises(ValueError):
        HybridRecommender.from_bytes(crafted)

    assert SPRUNG == []


def _corrupt_deflate_stream(blob: bytes) -> bytes:
    """The first member's compressed bytes start with a reserved deflate block type."""
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        info = zf.infolist()[0]
    if info.compress_type != zipfile.ZIP_DEFLATED:
        pytest.skip("the model file is not deflate-compressed")
    data = bytearray(blob)
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + name_len + extra_len] = 0xFF
    return bytes(data)


def _unknown_compression_method(blob: bytes) -> bytes:
    """The central directory names a compression method no zip reader knows (99 is AES)."""
    data = bytearray(blob)
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 10, 99)
    return bytes(data)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_corrupt_deflate_stream, id="corrupt-deflate-stream"),
        pytest.param(_unknown_compression_method, id="unknown-compression-method"),
    ],
)
def test_a_damaged_member_is_a_value_error(blob: bytes, damage: Callable[[bytes], bytes]) -> None:
    with pytest.raises(ValueError):
        HybridRecommender.from_bytes(damage(blob))


ORDERS = ("a_cooc_order", "a_regression_order", "a_content_order")
"""The rows' strongest-first orders: stored so loading need not sort them, optional."""


def test_a_model_file_missing_any_member_is_a_value_error(blob: bytes) -> None:
    members = _members(blob)
    assert set(ORDERS) <= set(members)
    wrong: dict[str, str] = {}
    for name in set(members) - set(ORDERS):
        partial = _npz({k: v for k, v in members.items() if k != name})
        try:
            HybridRecommender.from_bytes(partial)
        except ValueError:
            continue
        except Exception as exc:
            wrong[name] = type(exc).__name__
        else:
            wrong[name] = "loaded"

    assert wrong == {}


def test_a_header_missing_any_field_is_a_value_error(blob: bytes) -> None:
    members = _members(blob)
    header = json.loads(bytes(members["header"]).decode())
    wrong: dict[str, str] = {}
    for field in header:
        partial = {k: v for k, v in header.items() if k != field}
        damaged = dict(members)
        damaged["header"] = np.frombuffer(json.dumps(partial).encode(), dtype=np.uint8)
        try:
            HybridRecommender.from_bytes(_npz(damaged))
        except ValueError:
            continue
        except Exception as exc:
            wrong[field] = type(exc).__name__
        else:
            wrong[field] = "loaded"

    assert wrong == {}


def test_a_matrix_pointing_past_the_catalog_is_a_value_error(
    model: HybridRecommender, blob: bytes
) -> None:
    members = _members(blob)
    indices = [name for name in members if name.endswith("_indices")]
    if not indices:
        pytest.skip("the model file stores no sparse indices")
    for name in indices:
        members[name] = members[name] + model.n_items

    with pytest.raises(ValueError):
        HybridRecommender.from_bytes(_npz(members))


def test_the_stored_row_orders_are_the_ones_loading_would_sort(
    model: HybridRecommender, blob: bytes
) -> None:
    members = _members(blob)
    without = _npz({k: v for k, v in members.items() if k not in ORDERS})
    sorted_anew = HybridRecommender.from_bytes(without)
    read = HybridRecommender.from_bytes(blob)

    for name, order in read._orders().items():
        assert np.array_equal(order, sorted_anew._orders()[name]), name
        assert np.array_equal(order, members[f"a_{name}_order"]), name
    for got, want in zip(_all_answers(read), _all_answers(sorted_anew), strict=True):
        _same_answers(got, want)


def test_a_model_updated_after_loading_saves_its_orders_afresh(model: HybridRecommender) -> None:
    loaded = HybridRecommender.from_bytes(model.to_bytes())
    loaded.update(gift_shop_history()[:40])

    again = _members(loaded.to_bytes())
    without = _npz({k: v for k, v in again.items() if k not in ORDERS})

    for name, order in HybridRecommender.from_bytes(without)._orders().items():
        assert np.array_equal(again[f"a_{name}_order"], order), name


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p[::-1].copy(), id="crosses-rows"),
        pytest.param(lambda p: np.zeros_like(p), id="repeats-an-entry"),
        pytest.param(lambda p: p[:-1].copy(), id="too-short"),
        pytest.param(lambda p: p + len(p), id="past-the-end"),
        pytest.param(lambda p: p.astype(np.float64), id="not-integers"),
    ],
)
def test_a_damaged_row_order_is_ignored_and_sorted_anew(
    model: HybridRecommender, blob: bytes, damage: Callable[[Array], Array]
) -> None:
    members = _members(blob)
    before = _all_answers(HybridRecommender.from_bytes(blob))
    for name in ORDERS:
        members[name] = damage(members[name])

    loaded = HybridRecommender.from_bytes(_npz(members))

    for got, want in zip(_all_answers(loaded), before, strict=True):
        _same_answers(got, want)
