"""Job dependencies form a DAG: checks made before a job is accepted."""

from __future__ import annotations

from engine.actions.base import ActionError
from storage.repositories import jobs

MAX_ANCESTORS = 100_000


def check_parents(parents: list[int]) -> list[int]:
    """The distinct parents, in order; refuses unknown jobs and cycles above them."""
    unique = list(dict.fromkeys(int(p) for p in parents))
    if not unique:
        return unique
    known = jobs.statuses(unique)
    missing = [p for p in unique if p not in known]
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise ActionError(f"Cannot depend on job(s) {names}: they do not exist.")
    cycle = find_cycle(unique)
    if cycle:
        path = " -> ".join(str(j) for j in cycle)
        raise ActionError(f"Refused: the dependencies contain a cycle ({path}).")
    return unique


def find_cycle(start: list[int]) -> list[int] | None:
    """A cycle among the ancestors of ``start`` (a new job only depends on existing jobs, so
    it cannot close one itself, but the stored graph is checked rather than trusted).
    Reads the graph level by level through ``jobs.dependency_edges``, then runs an
    iterative depth-first search; returns the cycle's job ids, or None."""
    edges: dict[int, list[int]] = {}
    frontier = set(start)
    while frontier:
        if len(edges) > MAX_ANCESTORS:
            raise ActionError("Refused: this job would have more than 100,000 ancestors.")
        found = jobs.dependency_edges(frontier)
        for node in frontier:
            edges[node] = found.get(node, [])
        frontier = {p for parents in found.values() for p in parents if p not in edges}
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    for root in start:
        if colour[root] != white:
            continue
        path: list[int] = [root]
        iterators = [iter(edges[root])]
        colour[root] = grey
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                colour[path.pop()] = black
                iterators.pop()
                continue
            state = colour.get(child, black)
            if state == grey:
                return path[path.index(child) :] + [child]
            if state == white:
                colour[child] = grey
                path.append(child)
                iterators.append(iter(edges[child]))
    return None
