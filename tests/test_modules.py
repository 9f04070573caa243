# SPDX-License-Identifier: GPL-2.0-only
"""Modules call downward only (docs/design.md, "Modules"): no two of the daemon's
modules call each other, directly or round a circle.  Read from the built objects,
so a call added anywhere is seen, whatever the headers say."""
import glob
import os
import subprocess

import pytest

from util import BUILD

OBJECTS = os.path.join(BUILD, "src", "ipcfs.p")


def call_graph():
    """module -> the modules whose functions or data it uses."""
    defined, used = {}, {}
    for path in sorted(glob.glob(os.path.join(OBJECTS, "*.c.o"))):
        module = os.path.basename(path)[:-len(".c.o")]
        lines = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
        used[module] = set()
        for fields in map(str.split, lines.splitlines()):
            if len(fields) == 2 and fields[0] == "U":
                used[module].add(fields[1])
            elif len(fields) == 3 and fields[1] in "TDBR":
                defined[fields[2]] = module
    return {m: {defined[s] for s in syms if defined.get(s, m) != m} for m, syms in used.items()}


def cycles(graph):
    found = set()

    def walk(start, path):
        for nxt in graph[path[-1]]:
            if nxt == start:
                found.add(" -> ".join(path + [start]))
            elif nxt not in path and nxt > start:
                walk(start, path + [nxt])
    for start in graph:
        walk(start, [start])
    return sorted(found)


def test_no_module_calls_round_a_circle():
    graph = call_graph()
    if not graph:
        pytest.skip(f"no objects in {OBJECTS}")
    assert "fs" in graph and "kind_shm" in graph, sorted(graph)
    assert cycles(graph) == []


def test_the_circle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a -> b -> c -> a"]
    assert cycles({"a": {"b"}, "b": set()}) == []


# The rows of docs/design.md's picture, top first, and the arrows along a row.
ROWS = [
    {"main"},
    {"fs"},
    {"node", "ns_names", "listed", "transport"},
    {"kinds", "kind_shm", "kind_sem", "kind_msg", "kind_chan", "kind_events", "events_bpf",
     "events_watch"},
    {"shm_backing", "chan_builtin", "chan_kernel", "chan_ring", "chan_wait", "block", "waiters",
     "events"},
    {"file", "ns", "sysv", "options", "session"},
]
# The kind table names every kind_*; kind_events picks one of the sources of /events; each lists the SysV kinds' objects.
ALONG = {("kinds", k) for row in ROWS for k in row if k.startswith("kind_")} | {
    (source, k) for source in ("events_bpf", "events_watch") for k in ("kind_shm", "kind_sem", "kind_msg")} | {
    ("kind_events", "events_bpf"), ("kind_events", "events_watch"), ("events", "chan_wait"),
    ("chan_builtin", "chan_wait"), ("chan_kernel", "chan_wait"), ("chan_builtin", "chan_ring"),
    ("chan_wait", "block"), ("file", "ns"), ("ns", "sysv")}


def test_every_call_goes_down_the_picture_of_docs_design_md():
    graph = call_graph()
    if not graph:
        pytest.skip(f"no objects in {OBJECTS}")
    row = {m: i for i, r in enumerate(ROWS) for m in r}
    assert set(graph) - set(row) == set(), "modules missing from the picture (add them to ROWS)"
    assert set(row) - set(graph) == set(), "modules in the picture but gone from the tree"
    wrong = [f"{m} -> {n}" for m in graph for n in graph[m]
             if not (row[n] > row[m] or (m, n) in ALONG)]
    assert wrong == []


def test_the_tree_and_dispatch_know_nothing_of_sysv():
    graph = call_graph()
    if not graph:
        pytest.skip(f"no objects in {OBJECTS}")
    for module in ("fs", "node", "nodeid", "file", "ns_names", "listed"):
        assert not graph.get(module, set()) & {"sysv", "kind_shm", "kind_sem", "kind_msg",
                                                "kind_chan", "shm_backing"}, module
