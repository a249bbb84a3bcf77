"""UMLS concept F1 as CLUE computes it, with scispacy.

CLUE loads ``en_core_sci_sm``, adds scispacy's ``scispacy_linker`` (``linker_name="umls"``,
``resolve_abbreviations=True``; no abbreviation detector is added, so that flag changes nothing) and takes,
for every entity that has candidates, the canonical name of its top concept. An output's and a reference's
name sets give set precision, recall and F1 (an empty side gives 0).

First use downloads the spaCy model (``pip install`` of AI2's ``en_core_sci_sm`` release, ~15 MB) and the
linker data into ``~/.scispacy`` (~1 GB, several minutes). Offline, point ``umls_model`` at a spaCy pipeline
directory and ``umls_linker`` at a directory holding scispacy's linker files (``nmslib_index.bin``,
``tfidf_vectorizer.joblib``, ``tfidf_vectors_sparse.npz``, ``concept_aliases.json``) plus the knowledge base
as one ``*.jsonl`` file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .unavailable import MetricUnavailable

__all__ = ["CLUE_UMLS_MODEL", "UmlsScores", "umls_scores"]

CLUE_UMLS_MODEL = "en_core_sci_sm"
_LINKER_FILES = ("nmslib_index.bin", "tfidf_vectorizer.joblib", "tfidf_vectors_sparse.npz", "concept_aliases.json")
_INSTALL_HINT = "pip install 'clue-client[umls]'"


@dataclass(frozen=True, slots=True)
class UmlsScores:
    """Per-pair UMLS concept-set precision, recall and F1 (float64 arrays, input order)."""

    p: np.ndarray
    r: np.ndarray
    f1: np.ndarray


@dataclass(frozen=True)
class _Pipeline:
    """A spaCy pipeline plus the scispacy linker; ``separate`` when the linker runs after the pipeline."""

    nlp: Any
    linker: Any
    separate: bool

    def concept_sets(self, texts: Sequence[str]) -> list[set[str]]:
        names = self.linker.kb.cui_to_entity
        out = []
        for doc in self.nlp.pipe(texts):
            if self.separate:
                doc = self.linker(doc)
            out.append({names[ent._.kb_ents[0][0]].canonical_name for ent in doc.ents if ent._.kb_ents})
        return out


def _local_linker(directory: str) -> Any:
    """scispacy's EntityLinker over linker files in ``directory``, CLUE's defaults otherwise."""
    from scispacy.candidate_generation import CandidateGenerator, LinkerPaths
    from scispacy.linking import EntityLinker
    from scispacy.linking_utils import KnowledgeBase

    folder = Path(directory)
    missing = [name for name in _LINKER_FILES if not (folder / name).is_file()]
    kbs = sorted(folder.glob("*.jsonl"))
    if missing or len(kbs) != 1:
        raise MetricUnavailable(
            f"UMLS linker folder {directory} needs {', '.join(_LINKER_FILES)} and exactly one *.jsonl "
            f"knowledge base (missing: {', '.join(missing) or 'the *.jsonl'})"
        )
    aliases, vectorizer, index = LinkerPaths.from_directory(folder).load()
    generator = CandidateGenerator(
        ann_index=index, tfidf_vectorizer=vectorizer, ann_concept_aliases_list=aliases, kb=KnowledgeBase(str(kbs[0]))
    )
    return EntityLinker(candidate_generator=generator, resolve_abbreviations=True)


@lru_cache(maxsize=2)
def _load(model: str, linker: str | None) -> _Pipeline:
    """Load the pipeline once per process; every failure becomes MetricUnavailable."""
    try:
        import spacy
        import scispacy.linking  # noqa: F401 - registers the "scispacy_linker" factory
    except ImportError as exc:
        raise MetricUnavailable(f"scispacy is not installed: {_INSTALL_HINT}") from exc
    try:
        nlp = spacy.load(model)
    except OSError as exc:
        raise MetricUnavailable(
            f"spaCy model {model} is not installed (install AI2's en_core_sci_sm release, or pass --umls-model PATH)"
        ) from exc
    try:
        if linker is not None:
            return _Pipeline(nlp, _local_linker(linker), separate=True)
        nlp.add_pipe("scispacy_linker", config={"resolve_abbreviations": True, "linker_name": "umls"})
        return _Pipeline(nlp, nlp.get_pipe("scispacy_linker"), separate=False)
    except MetricUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - download failures, corrupt files: report, do not crash
        raise MetricUnavailable(f"cannot load the UMLS linker ({type(exc).__name__}: {exc})") from exc


def _set_prf(predicted: set[str], gold: set[str]) -> tuple[float, float, float]:
    p = len(predicted & gold) / len(predicted) if predicted else 0.0
    r = len(gold & predicted) / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def umls_scores(
    predictions: Sequence[str], references: Sequence[str], model: str | None = None, linker: str | None = None
) -> UmlsScores:
    """UMLS P/R/F1 of each pair; raises MetricUnavailable when scispacy or its data cannot be had."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    pipeline = _load(model or CLUE_UMLS_MODEL, linker)
    sets = pipeline.concept_sets([*predictions, *references])
    n = len(predictions)
    rows = np.array([_set_prf(sets[i], sets[n + i]) for i in range(n)], dtype=np.float64).reshape(n, 3)
    return UmlsScores(rows[:, 0], rows[:, 1], rows[:, 2])
