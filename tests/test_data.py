"""fastgrad.utils.data against torch.utils.data: datasets, random_split, samplers, collation,
DataLoader (single process, worker processes, worker exceptions), fastgrad.Generator, and a
forked child running parallel kernels (issue 14, items 4 and 7). Small sizes only."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap

import fastgrad
import fastgrad.utils.data as fdata
import numpy as np
import pytest
from fastgrad import _backend
from fastgrad.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

Point = collections.namedtuple("Point", ["x", "y"])


def _np(v):  # type: ignore[no-untyped-def]
    return np.asarray(v.detach().numpy() if hasattr(v, "detach") else v)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    """Nested structures of fastgrad and torch (or fastgrad) values are equal, types included."""
    if isinstance(a, fastgrad.Tensor):
        assert type(b).__name__ in ("Tensor", "Parameter"), (a, b)
        na, nb = _np(a), _np(b)
        assert na.shape == nb.shape and na.dtype == nb.dtype, (na, nb)
        np.testing.assert_array_equal(na, nb)
    elif isinstance(a, dict):
        assert type(a) is type(b) and list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), (a, b)
        for u, v in zip(a, b):
            _same(u, v)
    else:
        assert type(a) is type(b) and a == b, (a, b)


class Squares(Dataset):
    def __init__(self, n: int = 10) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"i": i, "sq": np.array([i * i, -i], dtype=np.float32), "name": f"s{i}"}


class Failing(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> int:
        if i == 5:
            raise ValueError(f"sample {i} is broken")
        return i


class Stream(IterableDataset):
    """0..n-1; sharded between workers only when ``shard``."""

    def __init__(self, n: int, shard: bool) -> None:
        self.n, self.shard = n, shard

    def __len__(self) -> int:
        return self.n

    def __iter__(self):  # type: ignore[no-untyped-def]
        info = get_worker_info()
        if self.shard and info is not None:
            return iter(range(info.id, self.n, info.num_workers))
        return iter(range(self.n))


def _tds(n: int = 10):  # type: ignore[no-untyped-def]
    x = fastgrad.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = fastgrad.tensor(np.arange(n) % 4)
    return TensorDataset(x, y)


def _batches(loader) -> list:  # type: ignore[no-untyped-def]
    return [[_np(t).copy() for t in b] for b in loader]


def _eq_batches(a: list, b: list) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert len(u) == len(v)
        for s, t in zip(u, v):
            assert s.dtype == t.dtype
            np.testing.assert_array_equal(s, t)


# --- the module --------------------------------------------------------------------------------
def test_importable_as_module_and_attribute() -> None:
    assert fastgrad.utils.data is fdata
    assert fastgrad.utils.data.DataLoader is DataLoader
    assert get_worker_info() is None


# --- datasets ------------------------------------------------------------------------------------
def test_tensor_dataset_items_and_errors(backend: str) -> None:
    ds = _tds(6)
    assert len(ds) == 6
    x, y = ds[4]
    np.testing.assert_array_equal(_np(x), [12, 13, 14])
    assert y.item() == 0 and y.shape == ()
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(fastgrad.zeros(3, 2), fastgrad.zeros(4))


def test_concat_subset_stack_chain_against_torch() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils import data as td

    a, b = list(range(5)), list(range(10, 13))
    c = ConcatDataset([a, b])
    tc = td.ConcatDataset([a, b])
    assert len(c) == len(tc) == 8 and c.cumulative_sizes == tc.cumulative_sizes
    assert [c[i] for i in range(-8, 8)] == [tc[i] for i in range(-8, 8)]
    with pytest.raises(IndexError):
        c[8]
    assert [x for x in Squares(3) + Squares(2)][3]["i"] == 0
    s = Subset(a, [4, 0, 2])
    assert len(s) == 3 and [s[i] for i in range(3)] == [4, 0, 2]
    st = StackDataset(a, [x * 2 for x in a])
    assert st[3] == td.StackDataset(a, [x * 2 for x in a])[3] == (3, 6)
    assert StackDataset(p=a, q=a)[1] == {"p": 1, "q": 1}
    ch = Stream(3, False) + Stream(2, False)
    assert isinstance(ch, ChainDataset) and list(ch) == [0, 1, 2, 0, 1] and len(ch) == 5
    assert torch is not None


def test_random_split_lengths_and_reproducibility() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils import data as td

    for n, lengths in ((10, [0.3, 0.7]), (11, [0.5, 0.25, 0.25]), (7, [0.34, 0.33, 0.33]),
                       (10, [3, 7])):
        ours = [len(s) for s in random_split(range(n), lengths)]
        theirs = [len(s) for s in td.random_split(range(n), lengths)]
        assert ours == theirs, (n, lengths)
    parts = random_split(range(20), [5, 15], generator=fastgrad.Generator().manual_seed(3))
    again = random_split(range(20), [5, 15], generator=fastgrad.Generator().manual_seed(3))
    assert [list(p) for p in parts] == [list(p) for p in again]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(20))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(5), [2, 2])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(1), [0.5, 0.5])
    assert torch is not None


# --- samplers ------------------------------------------------------------------------------------
def test_samplers_against_torch() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils import data as td

    src = range(7)
    assert list(SequentialSampler(src)) == list(td.SequentialSampler(src))
    g = fastgrad.Generator().manual_seed(0)
    perm = list(RandomSampler(src, generator=g))
    assert sorted(perm) == list(src) and len(RandomSampler(src)) == 7
    assert list(RandomSampler(src, generator=fastgrad.Generator().manual_seed(0))) == perm
    assert list(RandomSampler(src, generator=g)) != perm  # the generator moved on
    r = list(RandomSampler(src, replacement=True, num_samples=30))
    assert len(r) == 30 and set(r) <= set(src)
    long = list(RandomSampler(src, num_samples=17))  # permutations back to back
    assert sorted(long[:7]) == sorted(long[7:14]) == list(src) and len(set(long[14:])) == 3
    assert len(RandomSampler(src, num_samples=17)) == len(td.RandomSampler(src, num_samples=17))
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(src, num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(src, replacement=1)  # type: ignore[arg-type]
    sub = list(SubsetRandomSampler([9, 4, 7]))
    assert sorted(sub) == [4, 7, 9] and len(SubsetRandomSampler([9, 4, 7])) == 3
    w = list(WeightedRandomSampler([0.0, 1.0, 0.0, 2.0], 50))
    assert len(w) == 50 and set(w) <= {1, 3}
    nr = list(WeightedRandomSampler([1, 1, 1, 1, 1], 5, replacement=False))
    assert sorted(nr) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    for bs in (1, 3, 7, 10):
        for drop in (False, True):
            ours = BatchSampler(SequentialSampler(src), bs, drop)
            theirs = td.BatchSampler(td.SequentialSampler(src), bs, drop)
            assert list(ours) == list(theirs) and len(ours) == len(theirs), (bs, drop)
    assert list(BatchSampler([5, 6, 7], 2, False)) == [[5, 6], [7]]
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(src, 0, False)
    assert torch is not None


def test_batch_sampler_arrays_equal_lists() -> None:
    for s in (SequentialSampler(range(9)), SubsetRandomSampler([3, 1, 8, 5, 0]),
              RandomSampler(range(9), num_samples=13), WeightedRandomSampler([1, 2, 3], 7)):
        s.generator = None if isinstance(s, SequentialSampler) else fastgrad.Generator()
        for drop in (False, True):
            bs = BatchSampler(s, 4, drop)
            if s.generator is not None:
                s.generator.manual_seed(5)
            lists = list(bs)
            if s.generator is not None:
                s.generator.manual_seed(5)
            arrays = [a.tolist() for a in bs._iter_arrays()]  # type: ignore[union-attr]
            assert lists == arrays, (type(s).__name__, drop)


# --- collation -----------------------------------------------------------------------------------
def _collate_cases() -> list:
    return [
        [(1, 2.5, "a"), (3, 4.5, "b")],
        [{"x": np.array([1.0, 2.0]), "y": 1}, {"x": np.array([3.0, 4.0]), "y": 2}],
        [Point(np.float32(1), True), Point(np.float32(2), False)],
        [[np.int64(1), [2, 3]], [np.int64(4), [5, 6]]],
        [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((2, 3), np.float32)],
        [(np.array(1.5), {"n": [1.0, 2.0]}), (np.array(2.5), {"n": [3.0, 4.0]})],
        ["text", "more"],
    ]


def _to_torch(v, torch):  # type: ignore[no-untyped-def]
    if isinstance(v, fastgrad.Tensor):
        return torch.from_numpy(_np(v).copy())
    if isinstance(v, dict):
        return {k: _to_torch(u, torch) for k, u in v.items()}
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        return type(v)(*(_to_torch(u, torch) for u in v))
    if isinstance(v, (list, tuple)):
        return type(v)(_to_torch(u, torch) for u in v)
    return v


def _from_torch(v, torch):  # type: ignore[no-untyped-def]
    if isinstance(v, torch.Tensor):
        return fastgrad.tensor(v.numpy())
    if isinstance(v, dict):
        return {k: _from_torch(u, torch) for k, u in v.items()}
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        return type(v)(*(_from_torch(u, torch) for u in v))
    if isinstance(v, (list, tuple)):
        return type(v)(_from_torch(u, torch) for u in v)
    return v


def test_default_collate_against_torch(backend: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as t_collate

    for batch in _collate_cases():
        _same(default_collate(batch), _from_torch(t_collate(batch), torch))
    tb = [fastgrad.tensor([[1.0, 2.0]]), fastgrad.tensor([[3.0, 4.0]])]
    out = default_collate(tb)
    assert out.shape == (2, 1, 2) and out.dtype == fastgrad.float32
    _same(out, _from_torch(t_collate([_to_torch(t, torch) for t in tb]), torch))
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="equal size"):
        default_collate([fastgrad.zeros(2), fastgrad.zeros(3)])


def test_default_collate_keeps_gradients(backend: str) -> None:
    a = fastgrad.tensor([1.0, 2.0], requires_grad=True)
    out = default_collate([a, a * 2])
    out.sum().backward()
    np.testing.assert_array_equal(_np(a.grad), [3.0, 3.0])


def test_default_convert_against_torch(backend: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_convert as t_convert

    for data in ([np.arange(3), (np.float64(2.0), "s", 4)], {"a": np.ones(2), "b": [1, 2]},
                 Point(np.array([1, 2]), 3.0), (1, 2), "str"):
        _same(default_convert(data), _from_torch(t_convert(data), torch))


# --- DataLoader, one process ---------------------------------------------------------------------
def test_sequential_batches_equal_torch(backend: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils import data as td

    ds = _tds(10)
    tds = td.TensorDataset(*(torch.from_numpy(_np(t).copy()) for t in ds.tensors))
    for bs, drop in ((3, False), (3, True), (5, False), (1, False), (20, False)):
        ours = DataLoader(ds, batch_size=bs, drop_last=drop)
        theirs = td.DataLoader(tds, batch_size=bs, drop_last=drop)
        assert len(ours) == len(theirs)
        _eq_batches(_batches(ours), [[t.numpy() for t in b] for b in theirs])
        first = next(iter(ours))
        assert isinstance(first, list) and first[0].shape == (min(bs, 10), 3)
    sq, tsq = DataLoader(Squares(5), batch_size=2), td.DataLoader(Squares(5), batch_size=2)
    for a, b in zip(sq, tsq):
        _same(a, _from_torch(b, torch))
    unbatched = list(DataLoader(Squares(3), batch_size=None))
    assert len(unbatched) == 3 and unbatched[2]["i"] == 2 and unbatched[2]["sq"].shape == (2,)
    assert len(DataLoader(Squares(3), batch_size=None)) == 3


def test_tensor_dataset_gather_equals_per_sample_path(backend: str) -> None:
    ds = _tds(23)
    split = random_split(ds, [15, 8], generator=fastgrad.Generator().manual_seed(1))[0]
    views = TensorDataset(fastgrad.arange(46).reshape(2, 23).float().T,  # strided, expanded
                          fastgrad.arange(23).reshape(23, 1).expand(23, 3))
    for data in (ds, split, Subset(split, [14, 0, 3, 3, 7]), views):
        for drop in (False, True):
            kw = {"batch_size": 4, "shuffle": True, "drop_last": drop}
            fast = DataLoader(data, generator=fastgrad.Generator().manual_seed(7), **kw)
            slow = DataLoader(data, generator=fastgrad.Generator().manual_seed(7),
                              collate_fn=lambda b: default_collate(b), **kw)
            a, b = _batches(fast), _batches(slow)
            _eq_batches(a, b)
            assert len(a) == len(fast)
    seen = np.concatenate([b[1] for b in _batches(DataLoader(ds, batch_size=5, shuffle=True))])
    assert sorted(seen.tolist()) == sorted(_np(ds.tensors[1]).tolist())


def test_shuffle_is_reproducible_with_generator_and_manual_seed(backend: str) -> None:
    ds = _tds(12)

    def order(**kw):  # type: ignore[no-untyped-def]
        return np.concatenate([b[1] for b in _batches(DataLoader(ds, batch_size=5, **kw))])

    g = fastgrad.Generator().manual_seed(11)
    first = order(shuffle=True, generator=g)
    assert not np.array_equal(first, order(shuffle=True, generator=g))  # next epoch: new order
    np.testing.assert_array_equal(first, order(shuffle=True,
                                               generator=fastgrad.Generator().manual_seed(11)))
    fastgrad.manual_seed(4)
    a = order(shuffle=True)
    fastgrad.manual_seed(4)
    np.testing.assert_array_equal(a, order(shuffle=True))


def test_loader_argument_errors() -> None:
    ds = _tds(4)
    cases = [
        ({"sampler": SequentialSampler(ds), "shuffle": True}, "mutually exclusive with shuffle"),
        ({"batch_sampler": [[0, 1]], "batch_size": 2}, "batch_sampler option is mutually"),
        ({"batch_size": None, "drop_last": True}, "disables auto-batching"),
        ({"num_workers": -1}, "non-negative"),
        ({"prefetch_factor": 2}, "prefetch_factor option could only be specified"),
        ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            DataLoader(ds, **kw)
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(Stream(3, False), shuffle=True)
    loader = DataLoader(ds, batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        loader.batch_size = 3
    assert [len(b) for b in DataLoader(ds, batch_sampler=[[0, 1, 2], [3]])] == [2, 2]
    assert [b[0].shape[0] for b in DataLoader(ds, batch_sampler=[[0, 1, 2], [3]])] == [3, 1]


def test_iterable_dataset_one_process() -> None:
    out = [b.tolist() for b in DataLoader(Stream(7, False), batch_size=3)]
    assert out == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(7, False), batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    assert len(DataLoader(Stream(7, False), batch_size=3)) == 3
    assert len(DataLoader(Stream(7, False), batch_size=3, drop_last=True)) == 2
    assert list(DataLoader(Stream(3, False), batch_size=None)) == [0, 1, 2]


# --- DataLoader, worker processes ----------------------------------------------------------------
def test_workers_give_the_same_batches_in_order(backend: str) -> None:
    ds = _tds(37)
    kw = {"batch_size": 4, "shuffle": True}
    one = _batches(DataLoader(ds, generator=fastgrad.Generator().manual_seed(2), **kw))
    two = _batches(DataLoader(ds, num_workers=2, generator=fastgrad.Generator().manual_seed(2),
                              **kw))
    _eq_batches(one, two)
    sq = [b["sq"].tolist() for b in DataLoader(Squares(9), batch_size=2, num_workers=2,
                                                  prefetch_factor=1)]
    assert sq == [b["sq"].tolist() for b in DataLoader(Squares(9), batch_size=2)]
    loose = DataLoader(Squares(9), batch_size=2, num_workers=2, in_order=False)
    assert sorted(b["i"].tolist() for b in loose) == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]


def test_persistent_workers_init_fn_and_worker_info() -> None:
    class WhoAmI(Dataset):
        def __len__(self) -> int:
            return 6

        def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
            info = get_worker_info()
            return i, info.id, info.num_workers, int(os.environ.get("H2_INIT", "-1"))

    def init(worker_id: int) -> None:
        os.environ["H2_INIT"] = str(worker_id + 100)

    loader = DataLoader(WhoAmI(), batch_size=2, num_workers=2, persistent_workers=True,
                        worker_init_fn=init)
    for _ in range(2):  # two epochs on the same workers
        rows = [[t.tolist() for t in b] for b in loader]
        assert [r[0] for r in rows] == [[0, 1], [2, 3], [4, 5]]
        assert [r[1] for r in rows] == [[0, 0], [1, 1], [0, 0]]  # round-robin
        assert all(r[2] == [2, 2] for r in rows)
        assert [r[3] for r in rows] == [[100, 100], [101, 101], [100, 100]]
    it = loader._iterator
    assert it is not None and all(w.is_alive() for w in it._workers)
    it._shutdown_workers()
    assert not any(w.is_alive() for w in it._workers)


def test_iterable_dataset_with_workers() -> None:
    dup = sorted(b for b in DataLoader(Stream(5, False), batch_size=None, num_workers=2))
    assert dup == sorted(list(range(5)) * 2)  # each worker iterates the whole dataset
    shard = [b.tolist() for b in DataLoader(Stream(7, True), batch_size=2, num_workers=2)]
    assert shard == [[0, 2], [1, 3], [4, 6], [5]]  # PyTorch's order for the same sharding


def test_worker_exception_is_raised_with_its_traceback() -> None:
    loader = DataLoader(Failing(), batch_size=2, num_workers=2)
    got = []
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process") as e:
        for b in loader:
            got.append(b.tolist())
    assert got == [[0, 1], [2, 3]]
    msg = str(e.value)
    assert "Traceback" in msg and "sample 5 is broken" in msg and "__getitem__" in msg

    class Local(Exception):  # a class the parent cannot unpickle
        pass

    def bad_init(worker_id: int) -> None:
        raise Local("init failed")

    with pytest.raises(RuntimeError, match="init failed"):
        list(DataLoader(Squares(4), num_workers=1, worker_init_fn=bad_init))
    with pytest.raises(KeyError, match="Caught KeyError"):
        list(DataLoader({0: 1}, batch_size=None, sampler=[0, 1], num_workers=1))


def test_worker_that_dies_is_reported() -> None:
    class Dies(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> int:
            os._exit(7)

    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 7"):
        list(DataLoader(Dies(), num_workers=1))


# --- Generator -----------------------------------------------------------------------------------
def test_generator_seeds_and_state() -> None:
    torch = pytest.importorskip("torch")
    g = fastgrad.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed()
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    assert fastgrad.Generator().manual_seed(-3).initial_seed() == \
        torch.Generator().manual_seed(-3).initial_seed()
    state = g.get_state()
    a = list(RandomSampler(range(10), generator=g))
    g.manual_seed(99)
    g.set_state(state)
    assert list(RandomSampler(range(10), generator=g)) == a and g.initial_seed() == 5
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(RuntimeError, match="set_state"):
        g.set_state(fastgrad.zeros(3))


# --- fork safety (issue 14, item 7) --------------------------------------------------------------
FORK_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    import fastgrad
    fastgrad.set_backend("cpp")
    fastgrad.set_num_threads(2)
    a = fastgrad.from_numpy(np.random.default_rng(0).random(2**21, dtype=np.float32))
    parent = (a * a + a).numpy().tobytes()       # a parallel kernel in the parent
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        child = (a * a + a).numpy().tobytes()    # a parallel kernel in the child
        os.write(w, b"same" if child == parent else b"diff")
        os._exit(0)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            print(os.read(r, 4).decode(), fastgrad.get_num_threads())
            sys.exit(0)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    print("child hung")
    sys.exit(3)
""")


@pytest.mark.skipif("cpp" not in _backend.available(), reason="the C++ backend did not build")
def test_forked_child_runs_parallel_kernels() -> None:
    out = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.split() == ["same", "2"]  # the child's bits; the parent keeps 2 threads


# --- indexing fast paths a dataset relies on: x[i] and x[index_array] ----------------------------
def test_row_indexing_fast_paths_against_numpy(backend: str) -> None:
    a = np.arange(60, dtype=np.float64).reshape(5, 3, 4)
    t = fastgrad.tensor(a)
    for k in (0, 4, -1, -5):
        np.testing.assert_array_equal(_np(t[k]), a[k])
    for ix in (np.array([3, 0, 3]), np.array([[1, -1], [0, 2]]), np.array([], dtype=np.int64),
               np.array([4], dtype=np.uint8)):
        np.testing.assert_array_equal(_np(t[ix]), a[ix])
        np.testing.assert_array_equal(_np(t[fastgrad.tensor(ix.astype(np.int64))]), a[ix])
    for bad in (5, -6, np.array([0, 5]), np.array([-6])):
        with pytest.raises(IndexError, match="out of bounds"):
            t[bad]
    w = fastgrad.tensor(a, requires_grad=True)
    (w[1] * w[np.array([0, 0, 4])]).sum().backward()
    expect = np.zeros_like(a)
    expect[1] = 2 * a[0] + a[4]
    expect[0] = 2 * a[1]
    expect[4] = a[1]
    np.testing.assert_allclose(_np(w.grad), expect)


def test_distributed_sampler_against_torch() -> None:
    torch = pytest.importorskip("torch")
    from fastgrad.utils.data.distributed import DistributedSampler
    from torch.utils.data.distributed import DistributedSampler as TDS

    assert fdata.DistributedSampler is DistributedSampler
    for n, reps, drop in ((10, 3, False), (10, 3, True), (2, 5, False), (12, 4, False)):
        for rank in range(reps):
            ours = DistributedSampler(range(n), reps, rank, shuffle=False, drop_last=drop)
            theirs = TDS(range(n), reps, rank, shuffle=False, drop_last=drop)
            assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, reps, drop)
    parts = [list(DistributedSampler(range(11), 3, r, seed=4)) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert {i for p in parts for i in p} == set(range(11))  # 11 indices and one repeated
    a, b = DistributedSampler(range(11), 3, 0, seed=4), DistributedSampler(range(11), 3, 0, seed=4)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert [list(DistributedSampler(range(11), 3, 0, seed=4)) for _ in range(2)] == [parts[0]] * 2
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(range(4), 3, 3)
    assert torch is not None
