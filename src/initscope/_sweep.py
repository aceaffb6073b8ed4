"""Experiment grids: run a function over schemes x seeds x depths (any grid), collect
one table. Locally in a process pool, or as Ray Tune trials on a cluster.

>>> def trial(scheme: str, depth: int) -> dict:
...     return {"score": len(scheme) * depth}
>>> sweep(trial, {"scheme": ["he", "xavier"], "depth": [2, 3]}, backend="serial")
   scheme  depth  score
0      he      2      4
1      he      3      6
2  xavier      2     12
3  xavier      3     18

``fn`` gets one grid point as keyword arguments and returns a dict of results (one row)
or a list of dicts (several rows, e.g. one per layer). Rows come back in grid order
(the first key varies slowest) whatever order the trials finished in, each with its grid
point's values first, so the same grid gives the same table on every backend:

- ``"serial"``: in this process, one trial after the other;
- ``"local"``: a process pool (spawn) of ``workers`` processes; ``fn`` must be importable
  (a module-level function);
- ``"ray"``: Ray Tune, one trial per grid point (``tune.grid_search`` on every key),
  on the Ray instance already initialised or a local one (``ray_init`` keyword
  arguments, e.g. ``{"num_cpus": 2}``). Needs ``pip install initscope[ray]``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ._tabular import dataframe

__all__ = ["BACKENDS", "grid_points", "sweep"]

BACKENDS = ("serial", "local", "ray")

Row = dict[str, Any]
Trial = Callable[..., Mapping[str, Any] | Sequence[Mapping[str, Any]]]


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first key varying slowest."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"grid must be a non-empty mapping of name -> values; got {grid!r}")
    for k, values in grid.items():
        if not isinstance(k, str):
            raise TypeError(f"grid keys must be argument names (str); got {k!r}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{k!r}] must be a non-empty list of values; got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _rows(point: Mapping[str, Any], result: object) -> list[Row]:
    if isinstance(result, Mapping):
        results: Sequence[Any] = [result]
    elif isinstance(result, Sequence) and not isinstance(result, (str, bytes)):
        results = result
    else:
        raise TypeError(
            f"a trial must return a dict or a list of dicts; got {type(result).__name__} "
            f"for {dict(point)}"
        )
    rows = []
    for r in results:
        if not isinstance(r, Mapping):
            raise TypeError(f"a trial returned a list holding {type(r).__name__}, not dicts")
        clash = set(point) & set(r)
        if clash:
            raise ValueError(f"a trial's results reuse grid names {sorted(clash)}")
        rows.append({**point, **r})
    return rows


def _call(fn: Trial, point: dict[str, Any]) -> object:
    return fn(**point)


def _run_local(fn: Trial, points: list[dict[str, Any]], workers: int | None) -> list[object]:
    n = workers or min(len(points), os.cpu_count() or 1)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        return list(pool.map(_call, [fn] * len(points), points))


def _run_ray(fn: Trial, grid: Mapping[str, Sequence[Any]], points: list[dict[str, Any]],
             ray_init: Mapping[str, Any] | None) -> list[object]:
    try:
        import ray
        from ray import tune
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "backend='ray' needs Ray Tune: pip install 'initscope[ray]'"
        ) from e
    started = False
    saved_env: str | None = None
    if not ray.is_initialized():
        ray.init(**{"include_dashboard": False, "log_to_driver": False, **(ray_init or {})})
        started = True
    try:
        def trainable(config: dict[str, Any]) -> None:
            result = fn(**config)
            tune.report({"initscope_rows": result})

        # Rows are Python lists: keep Tune from logging them to CSV/TensorBoard files,
        # but keep its JSON log (result.json), from which Tune's result grid reads each
        # trial's metrics (without it, every trial prints "Could not fetch metrics").
        from ray.tune.logger import JsonLoggerCallback

        saved_env = os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS")
        os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
        with tempfile.TemporaryDirectory() as storage:
            json_log = JsonLoggerCallback()  # type: ignore[no-untyped-call]
            tuner = tune.Tuner(
                trainable,
                param_space={k: tune.grid_search(list(v)) for k, v in grid.items()},
                run_config=tune.RunConfig(storage_path=storage, verbose=0, name="initscope",
                                          callbacks=[json_log]),
            )
            results = tuner.fit()
            by_point: dict[tuple[Any, ...], object] = {}
            for i in range(len(results)):
                r = results[i]
                if r.error is not None or r.config is None or r.metrics is None:
                    raise RuntimeError(f"a Ray trial failed ({r.config}): {r.error}")
                by_point[tuple(r.config[k] for k in grid)] = r.metrics["initscope_rows"]
    finally:
        if saved_env is None:
            os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
        else:
            os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = saved_env
        if started:
            ray.shutdown()
    return [by_point[tuple(p[k] for k in grid)] for p in points]


def sweep(
    fn: Trial,
    grid: Mapping[str, Sequence[Any]],
    *,
    backend: str = "local",
    workers: int | None = None,
    ray_init: Mapping[str, Any] | None = None,
) -> Any:
    """Run ``fn(**point)`` for every point of ``grid``; return one pandas DataFrame.

    Args:
        fn: a trial; returns a dict (one row) or a list of dicts.
        grid: argument name -> list of values.
        backend: ``"serial"``, ``"local"`` (process pool) or ``"ray"`` (Ray Tune).
        workers: processes for ``"local"`` (default: one per core, at most one per point).
        ray_init: keyword arguments for ``ray.init`` when no Ray instance is running.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive int; got {workers!r}")
    points = grid_points(grid)
    if backend == "serial":
        results: list[object] = [fn(**p) for p in points]
    elif backend == "local":
        results = _run_local(fn, points, workers)
    else:
        results = _run_ray(fn, grid, points, ray_init)
    rows = [row for p, r in zip(points, results, strict=True) for row in _rows(p, r)]
    return dataframe(rows, "sweep")
