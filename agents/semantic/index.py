"""The per-process similarity index, kept in step with the database.

Each query reads the corpus (epoch, version) row: one indexed lookup. When it
differs from what the cached snapshot was built at, the missing changes are
read from the change log and applied (adds transformed, deletes masked), or
the whole corpus is reloaded when the log does not reach back far enough or
the corpus is a different one (new epoch). Snapshots are immutable and are
swapped by assignment, so queries in other threads never see half an update;
one lock makes sure only one thread catches up at a time.
"""

from __future__ import annotations

import threading

from django.db import connections

from agents.semantic import similarity
from agents.semantic.models import Concept, ConceptChange, CorpusState


class IndexCache:
    def __init__(self, using: str = "default"):
        self.using = using
        self._lock = threading.Lock()
        self._snap = similarity.Snapshot.empty()
        self._epoch: str | None = None
        self._version = 0
        self.full_loads = 0  # how often it rebuilt from scratch (tests, metrics)
        self.incremental_updates = 0

    def _state(self) -> tuple[str | None, int]:
        row = CorpusState.objects.using(self.using).filter(pk=1).values_list("epoch", "version").first()
        return (row[0], row[1]) if row else (None, 0)

    def current(self) -> tuple[similarity.Snapshot, int]:
        """The snapshot as of the database's current version, and that version."""
        epoch, version = self._state()
        if epoch == self._epoch and version == self._version:
            return self._snap, version
        with self._lock:
            epoch, version = self._state()  # another thread may have caught up meanwhile
            if epoch == self._epoch and version == self._version:
                return self._snap, version
            if epoch != self._epoch or version < self._version or not self._catch_up(version):
                self._reload()
            return self._snap, self._version

    def _catch_up(self, target: int) -> bool:
        if target == self._version:
            return True
        changes = list(
            ConceptChange.objects.using(self.using)
            .filter(version__gt=self._version, version__lte=target)
            .order_by("version")
            .values_list("op", "concept_id")
        )
        if len(changes) != target - self._version:
            return False  # the log was pruned past us: reload
        deleted = {cid for op, cid in changes if op == ConceptChange.Op.DELETE}
        added = [cid for op, cid in changes if op == ConceptChange.Op.ADD]
        rows = {
            r[0]: r
            for r in Concept.objects.using(self.using)
            .filter(id__in=added)
            .values_list("id", "domain", "name", "description")
        }
        snap = similarity.remove(self._snap, deleted)
        # Concepts are never edited and ids never reused, so an add that was
        # deleted again is simply absent from ``rows``.
        snap = similarity.add(snap, [rows[i] for i in added if i in rows])
        self._snap, self._version = snap, target
        self.incremental_updates += 1
        return True

    def _reload(self) -> None:
        # The version is read before the concepts: a change committed in
        # between is then both in the rows and in the log after our version,
        # and applying it again is a no-op (adds skip known ids).
        epoch, version = self._state()
        rows = Concept.objects.using(self.using).values_list("id", "domain", "name", "description")
        self._snap = similarity.build(rows.iterator(chunk_size=2000))
        self._epoch, self._version = epoch, version
        self.full_loads += 1


_caches: dict[tuple[str, str], IndexCache] = {}
_caches_lock = threading.Lock()


def index_cache(using: str = "default") -> IndexCache:
    """This process's index for database ``using`` (keyed by its name too, so test databases get their own)."""
    key = (using, str(connections[using].settings_dict.get("NAME")))
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = IndexCache(using)
        return cache
