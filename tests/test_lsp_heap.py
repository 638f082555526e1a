"""The language server keeps the cycle collector off the edit path (moviola.lsp.server.Heap)
without keeping garbage: what is garbage when it settles is freed, and a cycle that was alive
when frozen and died since is freed at the next pause."""

from __future__ import annotations

import gc
import weakref

import pytest

from moviola.lsp.server import Heap


class Node:
    def __init__(self):
        self.itself = self          # a reference cycle: only the collector frees it


@pytest.fixture
def heap():
    yield Heap()
    gc.unfreeze()                   # leave this test process's collector as it was


def test_settling_frees_the_garbage_made_since_the_last_publish(heap):
    dead = Node()
    gone = weakref.ref(dead)
    del dead
    heap.settle()
    assert gone() is None


def test_settled_objects_are_out_of_the_collectors_reach(heap):
    alive = Node()
    heap.settle()
    assert all(found is not alive for found in gc.get_objects())      # frozen: never walked
    assert gc.get_freeze_count() > 0


def test_a_cycle_frozen_alive_is_freed_once_the_frozen_heap_has_grown(heap):
    heap.reclaim()
    grown = [Node() for _ in range(gc.get_freeze_count())]     # the frozen heap doubles
    gone = weakref.ref(grown[0])
    heap.settle()
    del grown
    gc.collect()
    assert gone() is not None        # frozen: the collector does not see it die
    heap.reclaim_if_grown()
    assert gone() is None


def test_no_whole_heap_collection_while_the_frozen_heap_has_not_grown(heap):
    heap.reclaim()
    alive = Node()
    gone = weakref.ref(alive)
    heap.settle()
    del alive
    heap.reclaim_if_grown()          # a few objects more: not worth walking everything
    assert gone() is not None
