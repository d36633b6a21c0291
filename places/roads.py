"""The road graph of an extract: a directed networkx graph by travel time, and snapping to its roads."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import networkx as nx
import numpy as np

from places.osm import RoadWay

EARTH_RADIUS_M = 6_371_008.8
AT_NODE_M = 0.5  # a point this close to a node is on it
START, END = "start", "end"  # the virtual nodes a route's ends are joined to the graph by


class NoRoute(ValueError):
    """No road route joins the waypoints; the message says why."""


@dataclass(frozen=True)
class RoadPath:
    """A driven path: points (lat, lon), the OSM nodes passed, the way of each segment, and the times.

    ``points`` are the start on the road, the nodes, and the end on the road; ``point_nodes`` the
    node at each point (None off nodes); ``way_ids`` and ``segment_durations_s`` have one entry
    per segment between consecutive points.
    """

    points: list[tuple[float, float]]
    node_ids: list[int]
    point_nodes: list[int | None]
    way_ids: list[int]
    segment_durations_s: list[float]
    distance_m: float
    duration_s: float


@dataclass(frozen=True)
class Snap:
    """Where a point joins the road: the point on the segment, the segment, and links to its nodes."""

    point: tuple[float, float]
    segment: int
    t: float
    length_m: float
    mps: float
    way_id: int
    forward: bool
    backward: bool
    links: list[tuple[int, float, float]]


class Projection:
    """Equirectangular metres about the extract's centre: exact enough across one city."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.kx = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
        self.ky = math.radians(1) * EARTH_RADIUS_M

    def xy(self, lat, lon):
        """Return metres east and north of the centre (scalars or numpy arrays)."""
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky


class RoadGraph:
    """Directed road graph (edges only where a car may drive), with the segment index for snapping."""

    def __init__(self, ways: list[RoadWay], *, snap_limit_m: float = 300.0) -> None:
        lats = [lat for w in ways for lat, _ in w.coords]
        lons = [lon for w in ways for _, lon in w.coords]
        if not lats:
            raise ValueError("the extract has no roads a car may drive")
        self.projection = Projection((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
        self.snap_limit_m = snap_limit_m
        self.graph = nx.DiGraph()
        self.coords: dict[int, tuple[float, float]] = {}
        segs: list[tuple[int, int, float, float, float, float, bool, bool, float, int]] = []
        for way in ways:
            mps = way.speed_kmh / 3.6
            for (a, b), (pa, pb) in zip(zip(way.node_ids, way.node_ids[1:]), zip(way.coords, way.coords[1:])):
                self.coords[a], self.coords[b] = pa, pb
                length_m = self._length_m(pa, pb)
                if length_m == 0:
                    continue
                for u, v, allowed in ((a, b, way.forward), (b, a, way.backward)):
                    if allowed:
                        self._add_edge(u, v, length_m, length_m / mps, way.way_id)
                segs.append((a, b, *pa, *pb, way.forward, way.backward, mps, way.way_id))
        # Where the extract cuts roads off, and on islands of private roads, a car could drive in and
        # not out: keep the largest part where every node reaches every other, and snap only onto it.
        core = max(nx.strongly_connected_components(self.graph), key=len)
        self.graph.remove_nodes_from([n for n in list(self.graph) if n not in core])
        segs = [s for s in segs if s[0] in core and s[1] in core]
        self._seg_u = np.array([s[0] for s in segs], dtype=np.int64)
        self._seg_v = np.array([s[1] for s in segs], dtype=np.int64)
        self._ax, self._ay = self.projection.xy(np.array([s[2] for s in segs]), np.array([s[3] for s in segs]))
        self._bx, self._by = self.projection.xy(np.array([s[4] for s in segs]), np.array([s[5] for s in segs]))
        self._seg_fwd = np.array([s[6] for s in segs])
        self._seg_bwd = np.array([s[7] for s in segs])
        self._seg_mps = np.array([s[8] for s in segs])
        self._seg_way = np.array([s[9] for s in segs], dtype=np.int64)
        # The virtual start and end nodes are added per query: one query at a time on the shared graph.
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Pickle everything but the lock (the disk cache)."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        """Unpickle with a fresh lock."""
        self.__dict__.update(state, _lock=threading.Lock())

    def _length_m(self, pa: tuple[float, float], pb: tuple[float, float]) -> float:
        """Return the length in metres of the segment between two (lat, lon)."""
        ax, ay = self.projection.xy(*pa)
        bx, by = self.projection.xy(*pb)
        return math.hypot(bx - ax, by - ay)

    def _add_edge(self, u, v, length_m: float, duration_s: float, way_id: int) -> None:
        """Add a directed edge, keeping the quicker one where two ways join the same nodes."""
        old = self.graph.get_edge_data(u, v)
        if old is None or old["duration_s"] > duration_s:
            self.graph.add_edge(u, v, length_m=length_m, duration_s=duration_s, way=way_id)

    def snap(self, lat: float, lon: float, *, moving_out: bool) -> Snap:
        """Return where a point joins its nearest road segment, and the links to the segment's nodes.

        Leaving the point (``moving_out``) the links go to the nodes a car may drive to along the
        segment; arriving, they come from the nodes it may drive from.
        """
        px, py = self.projection.xy(lat, lon)
        dx, dy = self._bx - self._ax, self._by - self._ay
        len2 = np.maximum(dx * dx + dy * dy, 1e-9)
        t = np.clip(((px - self._ax) * dx + (py - self._ay) * dy) / len2, 0.0, 1.0)
        dist = np.hypot(self._ax + t * dx - px, self._ay + t * dy - py)
        i = int(np.argmin(dist))
        if dist[i] > self.snap_limit_m:
            raise NoRoute(f"({lat:.5f}, {lon:.5f}) is {dist[i]:.0f} m from the nearest road of the map")
        ti, length_m, mps = float(t[i]), math.sqrt(float(len2[i])), float(self._seg_mps[i])
        u, v = int(self._seg_u[i]), int(self._seg_v[i])
        (ulat, ulon), (vlat, vlon) = self.coords[u], self.coords[v]
        to_u, to_v = ti * length_m, (1 - ti) * length_m
        links = []
        # u→v allowed: leave towards v, arrive from u. v→u allowed: leave towards u, arrive from v.
        if self._seg_fwd[i]:
            links.append((v, to_v, to_v / mps) if moving_out else (u, to_u, to_u / mps))
        if self._seg_bwd[i]:
            links.append((u, to_u, to_u / mps) if moving_out else (v, to_v, to_v / mps))
        # On a node (a way's end, a junction) a car may go any way the node's roads allow.
        links += [(node, d, d / mps) for node, d in ((u, to_u), (v, to_v)) if d < AT_NODE_M]
        return Snap((ulat + ti * (vlat - ulat), ulon + ti * (vlon - ulon)), i, ti, length_m, mps,
                    int(self._seg_way[i]), bool(self._seg_fwd[i]), bool(self._seg_bwd[i]), links)

    def path(self, waypoints: list[tuple[float, float]]) -> RoadPath:
        """Return the quickest path for a car through the waypoints (lat, lon), in order."""
        if len(waypoints) < 2:
            raise NoRoute("a route needs at least two waypoints")
        legs = [self._leg(a, b) for a, b in zip(waypoints, waypoints[1:])]
        first = legs[0]
        points, nodes, at = list(first.points), list(first.node_ids), list(first.point_nodes)
        ways, durations = list(first.way_ids), list(first.segment_durations_s)
        for leg in legs[1:]:
            points += leg.points[1:]  # its first point is the waypoint the last leg ended at
            at += leg.point_nodes[1:]
            nodes += leg.node_ids
            ways += leg.way_ids
            durations += leg.segment_durations_s
        return RoadPath(points, nodes, at, ways, durations, sum(g.distance_m for g in legs), sum(durations))

    def _leg(self, a: tuple[float, float], b: tuple[float, float]) -> RoadPath:
        """Return the quickest path between two points, each joined to its nearest road."""
        out, into = self.snap(*a, moving_out=True), self.snap(*b, moving_out=False)
        with self._lock:
            g = self.graph
            try:
                for node, length_m, duration_s in out.links:
                    g.add_edge(START, node, length_m=length_m, duration_s=duration_s, way=out.way_id)
                for node, length_m, duration_s in into.links:
                    g.add_edge(node, END, length_m=length_m, duration_s=duration_s, way=into.way_id)
                if out.segment == into.segment and ((into.t >= out.t and out.forward)
                                                    or (into.t <= out.t and out.backward)):
                    length_m = abs(into.t - out.t) * out.length_m
                    g.add_edge(START, END, length_m=length_m, duration_s=length_m / out.mps, way=out.way_id)
                try:
                    duration_s, nodes = nx.bidirectional_dijkstra(g, START, END, weight="duration_s")
                except (nx.NetworkXNoPath, nx.NodeNotFound):
                    raise NoRoute(f"no road route from ({a[0]:.5f}, {a[1]:.5f}) to ({b[0]:.5f}, {b[1]:.5f})") \
                        from None
                edges = [g.edges[u, v] for u, v in zip(nodes, nodes[1:])]
            finally:
                g.remove_nodes_from([START, END])
        points = [out.point] + [self.coords[n] for n in nodes[1:-1]] + [into.point]
        at = [None, *nodes[1:-1], None]
        ways, durations = [e["way"] for e in edges], [e["duration_s"] for e in edges]
        # An end on a node joins it by a link of no length: drop it, the node is the end.
        if len(edges) > 1 and edges[-1]["length_m"] < AT_NODE_M:
            del points[-1], at[-1], ways[-1], durations[-1]
        if len(ways) > 1 and edges[0]["length_m"] < AT_NODE_M:
            del points[0], at[0], ways[0], durations[0]
        return RoadPath(points, nodes[1:-1], at, ways, durations, sum(e["length_m"] for e in edges), duration_s)
