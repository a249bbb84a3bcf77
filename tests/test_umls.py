"""UMLS F1 with scispacy's real EntityLinker over a tiny knowledge base built here (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import nmslib
import numpy as np
import pytest
import scipy.sparse
import spacy
from scispacy.linking_utils import KnowledgeBase
from sklearn.feature_extraction.text import TfidfVectorizer

from clue_client.scoring import MetricUnavailable, umls_scores

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


def _linker_folder(folder: Path) -> Path:
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


def _pipeline(folder: Path) -> Path:
    """A blank English pipeline whose entity ruler stands in for en_core_sci_sm's NER."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "ENTITY", "pattern": m} for m in MENTIONS])
    nlp.to_disk(folder)
    return folder


@pytest.fixture(scope="module")
def umls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("umls")
    return {"model": str(_pipeline(root / "model")), "linker": str(_linker_folder(root / "linker"))}


def test_hand_computed_concept_sets(umls: dict[str, str]) -> None:
    preds = [
        "Had a heart attack; diabetes noted.",  # {MI, DM}
        "Hypertension and high blood pressure.",  # both mentions -> one concept {HTN}
        "fever only",  # entity without concept -> empty set
        "",
        "cough, cough and MI history",  # {Coughing} ("MI" is not a ruler mention)
    ]
    refs = [
        "Old myocardial infarction and hypertension.",  # {MI, HTN}: P = R = 1/2
        "hypertension",  # {HTN}: 1
        "fever",  # empty both: 0
        "diabetes",  # empty prediction: 0
        "coughing",  # mention "cough" of "coughing"? no: the ruler matches whole tokens only -> empty: 0
    ]
    s = umls_scores(preds, refs, **umls)
    assert s.p.tolist() == [0.5, 1.0, 0.0, 0.0, 0.0]
    assert s.r.tolist() == [0.5, 1.0, 0.0, 0.0, 0.0]
    assert s.f1.tolist() == [0.5, 1.0, 0.0, 0.0, 0.0]


def test_uneven_sets(umls: dict[str, str]) -> None:
    # pred {MI, DM, Coughing}; ref {DM}: P = 1/3, R = 1, F1 = 0.5
    s = umls_scores(["MI? heart attack, diabetes and a cough"], ["diabetes mellitus"], **umls)
    assert s.p[0] == 1 / 3 and s.r[0] == 1.0 and s.f1[0] == 2 * (1 / 3) / (1 / 3 + 1)


def test_missing_spacy_model_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(MetricUnavailable, match="not installed"):
        umls_scores(["a"], ["b"], model=str(tmp_path / "no-model"))


def test_incomplete_linker_folder_names_what_is_missing(umls: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "concept_aliases.json").write_text("[]")
    with pytest.raises(MetricUnavailable, match="nmslib_index.bin"):
        umls_scores(["a"], ["b"], model=umls["model"], linker=str(tmp_path))
