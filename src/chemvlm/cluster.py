"""Runs on a Ray cluster (the optional `ray` extra): `--ray` alone starts a local cluster for the run, `--ray
ADDRESS` connects to one (`auto`, `ray://HOST:PORT`, `HOST:PORT`). Shared by `chemvlm ocr` (documents.
distributed) and `chemvlm data build` (data.build).

The files a run reads and writes must be at the same paths on every node (one machine, or a shared file
system), and chemvlm must be installed on every node."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from typer.core import TyperCommand

from chemvlm.errors import InputError

LOCAL = "local"  # what a bare --ray means: a cluster started for the run on this machine
_ADDRESS = re.compile(r"(auto|local|ray://\S+|[\w.-]+:\d+)")


class ClusterError(InputError, ConnectionError):
    """Ray missing, or a cluster that cannot be reached; one line."""


class RayAddressCommand(TyperCommand):
    """A command whose `--ray` takes an address only when one follows it (a bare `--ray`: a local cluster)."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, optional_address(args))


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray: Ray is not installed; install the extra with "
                           "`pip install 'chemvlm[ray]'` (or `pip install ray`)") from None
    return ray


def optional_address(args: list[str]) -> list[str]:
    """The command line with a bare `--ray` given its value `local`, so that `--ray` takes an address only
    when one follows it (`--ray papers/` reads papers/ on a local cluster)."""
    args, out = list(args), []
    for index, arg in enumerate(args):
        if arg == "--":
            return out + args[index:]
        out.append(arg)
        following = args[index + 1] if index + 1 < len(args) else None
        if arg == "--ray" and (following is None or not _ADDRESS.fullmatch(following)):
            out.append(LOCAL)
    return out


def check_address(address: str) -> str:
    if not _ADDRESS.fullmatch(address):
        raise ClusterError(f"--ray {address}: not a Ray address (auto, ray://HOST:PORT or HOST:PORT)")
    return address


@contextmanager
def connected(address: str = LOCAL, num_cpus: int | None = None) -> Iterator:
    """Ray, connected for the block: to the cluster at `address`, or to a local one started with `num_cpus`
    CPUs (default: the machine's) and shut down after. A Ray already connected in this process is used as
    it is and left connected."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    check_address(address)
    options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if address == LOCAL:
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ClusterError(f"--ray {address}: cannot connect ({' '.join(str(err).split())[:300]})") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def cpus(ray) -> int:
    """The CPUs of the cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_tasks(ray, function: Callable, items: Iterable, in_flight: int | None = None) -> Iterator:
    """`function(item)` for every item as one-CPU Ray tasks, results as they come (not in order); at most
    `in_flight` tasks (default: twice the cluster's CPUs) are submitted at a time."""
    remote = ray.remote(num_cpus=1)(function)
    items, pending = iter(items), []
    limit = in_flight or 2 * cpus(ray)
    while True:
        pending += [remote.remote(item) for item in _take(items, limit - len(pending))]
        if not pending:
            return
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


def _take(items: Iterator, n: int) -> list:
    taken = []
    while len(taken) < n:
        item = next(items, _END)
        if item is _END:
            break
        taken.append(item)
    return taken


_END = object()
