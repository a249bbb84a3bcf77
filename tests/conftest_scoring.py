"""Helpers shared by the scoring tests: a tiny UMLS-style knowledge base and linker, built offline."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import nmslib
import numpy as np
import scipy.sparse
import spacy
from scispacy.linking_utils import KnowledgeBase
from sklearn.feature_extraction.text import TfidfVectorizer

CONCEPTS = [
    {"concept_id": "C0027051", "canonical_name": "Myocardial Infarction",
     "aliases": ["heart attack", "myocardial infarction", "MI"], "types": ["T047"], "definition": "Heart muscle death."},
    {"concept_id": "C0011849", "canonical_name": "Diabetes Mellitus",
     "aliases": ["diabetes", "diabetes mellitus"], "types": ["T047"], "definition": "A metabolic disease."},
    {"concept_id": "C0020538", "canonical_name": "Hypertensive disease",
     "aliases": ["hypertension", "high blood pressure"], "types": ["T047"], "definition": "Raised blood pressure."},
    {"concept_id": "C0010200", "canonical_name": "Coughing",
     "aliases": ["cough", "coughing"], "types": ["T184"], "definition": "A sudden expulsion of air."},
]
MENTIONS = ["heart attack", "myocardial infarction", "diabetes", "hypertension", "high blood pressure", "cough",
            "fever"]  # "fever" is an entity with no concept in the knowledge base


def linker_folder(folder: Path) -> Path:
    """scispacy's linker file layout (as AI2 ships it for UMLS), for a 4-concept knowledge base."""
    folder.mkdir()
    (folder / "tiny_kb.jsonl").write_text("\n".join(json.dumps(c) for c in CONCEPTS) + "\n")
    aliases = sorted(KnowledgeBase(str(folder / "tiny_kb.jsonl")).alias_to_cuis)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, dtype=np.float32)
    vectors = vectorizer.fit_transform(aliases)
    index = nmslib.init(method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR)
    index.addDataPointBatch(vectors)
    index.createIndex({"M": 16, "efConstruction": 100, "post": 0, "indexThreadQty": 1})
    index.saveIndex(str(folder / "nmslib_index.bin"))
    joblib.dump(vectorizer, folder / "tfidf_vectorizer.joblib")
    scipy.sparse.save_npz(folder / "tfidf_vectors_sparse.npz", vectors)
    (folder / "concept_aliases.json").write_text(json.dumps(aliases))
    return folder


def ruler_pipeline(folder: Path) -> Path:
    """A blank English pipeline whose entity ruler stands in for en_core_sci_sm's NER."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "ENTITY", "pattern": m} for m in MENTIONS])
    nlp.to_disk(folder)
    return folder


def tiny_umls(root: Path) -> dict[str, str]:
    """``umls_scores`` keyword arguments (model, linker) for the tiny setup under ``root``."""
    return {"model": str(ruler_pipeline(root / "model")), "linker": str(linker_folder(root / "linker"))}
