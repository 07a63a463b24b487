"""Sweeps beyond one process: chunks evaluated on Dask (layer 2).

``carbonsim sweep S --dask`` starts a ``dask.distributed.LocalCluster`` on this machine;
``--dask tcp://HOST:PORT`` uses a running scheduler (``pip install ".[dask]"``). The client sends
each worker the sweep's :class:`~carbonsim.engine.sweep.run.ChunkPlan` once (plain arrays);
each chunk is evaluated by :func:`~carbonsim.engine.sweep.chunks.evaluate_chunk`, the same function
the in-process run uses, and written by the worker as its own Parquet part
(``points.parquet/part-00000.parquet``, ...: a Parquet dataset that pandas and Arrow read as one
table, in chunk order). Best points are merged on the client, so results equal the in-process
run's row for row. Workers must see the output folder (one machine, or a shared file system).
"""

from __future__ import annotations

from pathlib import Path

from carbonsim.errors import OptionError

#: Chunks in flight per worker (bounds the client's memory when results are collected).
IN_FLIGHT_PER_WORKER = 2


def evaluate_part(plan, k: int, start: int, stop: int, part: str | None, collect: bool):
    """Worker task: evaluate chunk ``k``, write it as a Parquet part, return its summary."""
    from carbonsim.engine.sweep.chunks import arrow_table, as_arrays, evaluate_chunk, parquet_options

    columns, summary = evaluate_chunk(plan, start, stop)
    if part is not None:
        import pyarrow.parquet as pq

        table = arrow_table(columns, plan.units(summary.columns))
        pq.write_table(table, part, **parquet_options(table))
    frame = None
    if collect:
        import pandas as pd

        frame = pd.DataFrame(as_arrays(columns))
    return k, summary, frame


def _client(address: str):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise OptionError("Dask is not installed; install it with pip install \".[dask]\" "
                          "(or pip install \"dask[distributed]\")", "dask") from None
    if address == "local":
        cluster = LocalCluster(n_workers=None, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(address, timeout="10s"), None
    except (OSError, TimeoutError) as exc:
        raise OptionError(f"cannot reach the Dask scheduler at {address!r} ({exc})", "dask") from None


def run_dask(plan, size: int, chunk: int, folder, fmt: str, progress, collect: bool, address: str):
    """Evaluate every chunk on Dask; return what the in-process run returns (the run's
    :class:`~carbonsim.engine.sweep.chunks.ChunkSummary`, the table's name, the collected frames)."""
    from dask.distributed import as_completed

    from carbonsim.engine.sweep.chunks import ChunkSummary

    if folder is not None and fmt != "parquet":
        raise OptionError("Dask workers write Parquet parts; use --table-format parquet", "dask")
    table = "points.parquet"
    parts = None
    if folder is not None:
        parts = Path(folder.path) / table
        parts.mkdir()
    client, cluster = _client(address)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        plan_f = client.scatter(plan, broadcast=True)
        bounds = [(k, s, min(size, s + chunk)) for k, s in enumerate(range(0, size, chunk))]
        todo = iter(bounds)

        def submit(k, s, e):
            part = None if parts is None else str(parts / f"part-{k:05d}.parquet")
            return client.submit(evaluate_part, plan_f, k, s, e, part, collect, pure=False)

        pending = as_completed([submit(*b) for _, b in zip(range(IN_FLIGHT_PER_WORKER * workers), todo)])
        total, frames, done = ChunkSummary(0, {}), {}, 0
        for fut in pending:
            k, summary, frame = fut.result()
            total.add(summary)
            if collect:
                frames[k] = frame
            done += bounds[k][2] - bounds[k][1]
            if progress is not None:
                progress(done, size)
            nxt = next(todo, None)
            if nxt is not None:
                pending.add(submit(*nxt))
        return total, table, [frames[k] for k in sorted(frames)]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
