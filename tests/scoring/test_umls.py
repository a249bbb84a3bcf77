"""UMLS F1 with scispacy's real EntityLinker over a tiny knowledge base built here (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_scoring import tiny_umls

from clue_client.scoring import MetricUnavailable, umls_scores


@pytest.fixture(scope="module")
def umls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return tiny_umls(tmp_path_factory.mktemp("umls"))


def test_hand_computed_concept_sets(umls: dict[str, str]) -> None:
    preds = [
        "Had a heart attack; diabetes noted.",  # {MI, DM}
        "hypertension and high blood pressure.",  # two mentions, one concept: {HTN}
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
