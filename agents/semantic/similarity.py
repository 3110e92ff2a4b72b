"""Text similarity for concepts: TF-IDF weighting and cosine similarity. Pure: no Django.

Why TF-IDF with scikit-learn rather than sentence embeddings: nothing has to
be downloaded at run time (no model weights), it answers in a few
milliseconds over 10,000 concepts on a small machine, its scores are
deterministic and explainable (shared, rare words count most), and it ranks
related texts together even when neither is a substring of the other. Its
limit is vocabulary: synonyms with no shared word stem do not match, which a
light stemmer and name/identifier splitting soften.

Why hashing rather than a fitted vocabulary: ``HashingVectorizer`` maps each
term to a fixed column (MurmurHash3, same in every process), so a concept's
term-frequency row depends only on its own text. New concepts append rows and
deleted ones are masked, without refitting anything; the IDF weights are
recomputed from document frequencies (a per-column count kept up to date as
rows come and go). An index built incrementally and one built from scratch
over the same concepts therefore hold the same rows, counts and weights and
compute bit-identical scores, which is how several semantic instances reading
one database give the same answer. 2**20 columns keep hash collisions rare
for vocabularies of tens of thousands of words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.preprocessing import normalize

N_FEATURES = 2**20
NAME_WEIGHT = 2  # a concept's name says more about it than any one description word
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD_RE = re.compile(r"[a-z0-9]+")
_STOP = frozenset(ENGLISH_STOP_WORDS)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, conservative English suffix stripper.

    "caches", "caching", "cached" -> "cach"; "policies" -> "policy";
    "authentication", "authenticate" -> "authenticat". It only needs to send
    a word's common forms to one key; the keys need not be real words.
    """
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses") or (word.endswith("es") and word[-3] in "xz") or word.endswith(("ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix, keep in (("ing", 4), ("ed", 4)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            word = word[: -len(suffix)]
            if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running -> runn -> run
            break
    if word.endswith("ations") or word.endswith("ation"):
        word = word[: word.rindex("ation")] + "at"
    elif word.endswith(("ers", "ors")) and len(word) > 6:
        word = word[:-3]
    elif word.endswith(("er", "or")) and len(word) > 5 or word.endswith("ly") and len(word) > 5:
        word = word[:-2]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Stemmed lower-case words; camelCase and snake_case identifiers split; stop words dropped."""
    text = _CAMEL_RE.sub(" ", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return [stem(w) for w in _WORD_RE.findall(text) if w not in _STOP and (len(w) > 1 or w.isdigit())]


def concept_terms(name: str, description: str) -> list[str]:
    return tokens(name) * NAME_WEIGHT + tokens(description)


def _analyze(doc: str) -> list[str]:
    # Documents reach the vectorizer as "name\x1fdescription" (one string per
    # document is all it accepts); the unit separator never occurs in text we keep.
    name, _, description = doc.partition("\x1f")
    return concept_terms(name, description)


_VECTORIZER = HashingVectorizer(
    analyzer=_analyze, n_features=N_FEATURES, alternate_sign=False, norm=None, dtype=np.float64
)


def term_rows(docs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
    """Sublinear term-frequency rows (1 + ln tf) for (name, description) pairs."""
    if not docs:
        return sp.csr_matrix((0, N_FEATURES), dtype=np.float64)
    matrix = _VECTORIZER.transform(f"{n}\x1f{d}" for n, d in docs).tocsr()
    matrix.sort_indices()
    np.log(matrix.data, out=matrix.data)
    matrix.data += 1.0
    return matrix


def query_row(text: str) -> sp.csr_matrix:
    """The query's term row, with the query text counting as a description."""
    return term_rows([("", text)])


def _count_columns(df: np.ndarray, rows: sp.csr_matrix, sign: int) -> np.ndarray:
    """A copy of ``df`` with each column's row count in ``rows`` added (or subtracted)."""
    # Indices are unique within a row, so counting them counts rows per column.
    if rows.nnz > 50_000:  # bulk: bincount is much faster than add.at
        return df + sign * np.bincount(rows.indices, minlength=N_FEATURES).astype(df.dtype)
    out = df.copy()
    np.add.at(out, rows.indices, sign)
    return out


@dataclass(frozen=True)
class Hit:
    concept_id: int
    score: float


@dataclass
class Snapshot:
    """An immutable view of the index: replaced, never changed, so readers need no lock."""

    ids: np.ndarray  # concept primary key per row
    domains: np.ndarray  # domain code per row
    alive: np.ndarray  # False once the concept is deleted
    tf: sp.csr_matrix
    df: np.ndarray  # live rows per column
    domain_codes: dict[str, int]
    row_of: dict[int, int]
    _weights: sp.csc_matrix | None = field(default=None, repr=False)

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(
            ids=np.zeros(0, np.int64),
            domains=np.zeros(0, np.int32),
            alive=np.zeros(0, bool),
            tf=term_rows([]),
            df=np.zeros(N_FEATURES, np.int32),
            domain_codes={},
            row_of={},
        )

    @property
    def size(self) -> int:
        return int(self.alive.sum())

    def idf(self, columns: np.ndarray) -> np.ndarray:
        # scikit-learn's smooth IDF, ln((1 + n) / (1 + df)) + 1, for the given
        # columns only: computing it for all 2**20 columns per query would
        # cost more than the search itself.
        return np.log((1.0 + self.size) / (1.0 + self.df[columns])) + 1.0

    def weights(self) -> sp.csc_matrix:
        """Rows weighted by IDF and scaled to unit length (a dot product is then the cosine).

        Column-major, so a query touches only the columns of its own terms.
        Built once per snapshot, i.e. once per corpus change.
        """
        if self._weights is None:
            weighted = self.tf.copy()
            weighted.data = weighted.data * self.idf(weighted.indices)
            self._weights = normalize(weighted, norm="l2", copy=False).tocsc()
        return self._weights


def build(concepts: Iterable[tuple[int, str, str, str]]) -> Snapshot:
    """A snapshot from scratch: (id, domain, name, description) per concept."""
    rows = list(concepts)
    rows.sort(key=lambda r: r[0])
    snap = Snapshot.empty()
    return add(snap, rows) if rows else snap


def add(snap: Snapshot, concepts: Sequence[tuple[int, str, str, str]]) -> Snapshot:
    """A new snapshot with ``concepts`` appended (ids already present are skipped)."""
    fresh = [c for c in concepts if c[0] not in snap.row_of]
    if not fresh:
        return snap
    tf_new = term_rows([(c[2], c[3]) for c in fresh])
    codes = dict(snap.domain_codes)
    dom_new = np.array([codes.setdefault(c[1], len(codes)) for c in fresh], dtype=np.int32)
    start = snap.tf.shape[0]
    row_of = dict(snap.row_of)
    row_of.update((c[0], start + i) for i, c in enumerate(fresh))
    return Snapshot(
        ids=np.concatenate([snap.ids, np.array([c[0] for c in fresh], np.int64)]),
        domains=np.concatenate([snap.domains, dom_new]),
        alive=np.concatenate([snap.alive, np.ones(len(fresh), bool)]),
        tf=sp.vstack([snap.tf, tf_new], format="csr"),
        df=_count_columns(snap.df, tf_new, 1),
        domain_codes=codes,
        row_of=row_of,
    )


def remove(snap: Snapshot, concept_ids: Iterable[int]) -> Snapshot:
    """A new snapshot without ``concept_ids`` (masked; compacted when many are dead)."""
    rows = [snap.row_of[i] for i in set(concept_ids) if i in snap.row_of and snap.alive[snap.row_of[i]]]
    if not rows:
        return snap
    alive = snap.alive.copy()
    alive[rows] = False
    df = _count_columns(snap.df, snap.tf[rows], -1)
    row_of = dict(snap.row_of)
    for r in rows:
        del row_of[int(snap.ids[r])]
    out = Snapshot(
        ids=snap.ids,
        domains=snap.domains,
        alive=alive,
        tf=snap.tf,
        df=df,
        domain_codes=snap.domain_codes,
        row_of=row_of,
    )
    dead = len(alive) - int(alive.sum())
    return _compact(out) if dead > max(256, len(alive) // 4) else out


def _compact(snap: Snapshot) -> Snapshot:
    keep = np.flatnonzero(snap.alive)
    ids = snap.ids[keep]
    return Snapshot(
        ids=ids,
        domains=snap.domains[keep],
        alive=np.ones(len(keep), bool),
        tf=snap.tf[keep],
        df=snap.df,
        domain_codes=snap.domain_codes,
        row_of={int(cid): i for i, cid in enumerate(ids)},
    )


def search(snap: Snapshot, text: str, *, top_k: int, domain: str | None = None, min_score: float = 0.0) -> list[Hit]:
    """The ``top_k`` live concepts most similar to ``text``: score desc, then id asc."""
    if snap.tf.shape[0] == 0:
        return []
    q = query_row(text)
    if q.nnz == 0:
        return []
    columns = q.indices
    q_weights = q.data * snap.idf(columns)
    q_weights /= np.linalg.norm(q_weights)
    scores = snap.weights()[:, columns] @ q_weights  # only the query's columns are read
    mask = snap.alive & (scores > min_score)
    if domain is not None:
        code = snap.domain_codes.get(domain)
        if code is None:
            return []
        mask &= snap.domains == code
    candidates = np.flatnonzero(mask)
    if len(candidates) == 0:
        return []
    if len(candidates) > top_k:
        # A partition finds the k-th best score in linear time; ties at the cut-off
        # are settled below by id so every instance returns the same set.
        kth = np.partition(scores[candidates], len(candidates) - top_k)[len(candidates) - top_k]
        candidates = candidates[scores[candidates] >= kth]
    order = np.lexsort((snap.ids[candidates], -scores[candidates]))[:top_k]
    chosen = candidates[order]
    return [Hit(int(snap.ids[r]), float(scores[r])) for r in chosen]
