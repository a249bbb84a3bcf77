"""Write the fictional sample datasets in every original CLUE file format (run from the repo root).

Every record below is invented for clue-client's tests and demos: no real patient, note or question.
``python data/samples/make_samples.py`` rewrites the files; the .xlsx needs openpyxl (a dev dependency).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

MEDNLI = [
    (
        "Fictional patient A reports chest pain for two days.",
        "The fictional patient has chest pain.",
        "entailment",
    ),
    ("Fictional patient B denies any fever.", "The fictional patient is febrile.", "contradiction"),
    ("Fictional patient C was started on insulin.", "The fictional patient has diabetes.", "neutral"),
    (
        "Fictional patient D has a blood pressure of 180/100.",
        "The fictional patient is hypertensive.",
        "entailment",
    ),
    (
        "Fictional patient E walked into clinic unaided.",
        "The fictional patient is bedbound.",
        "contradiction",
    ),
    ("Fictional patient F takes warfarin.", "The fictional patient has atrial fibrillation.", "neutral"),
    (
        "Fictional patient G has a cough with green sputum.",
        "The fictional patient has a productive cough.",
        "entailment",
    ),
    (
        "Fictional patient H had a normal chest x-ray.",
        "The fictional patient has a large pneumothorax.",
        "contradiction",
    ),
]

MEQSUM = [
    (
        "fict-001.txt",
        "SUBJECT: fictional question\nMESSAGE: My fictional aunt takes lisinopril and her ankles "
        "are swollen, is that from the pill?",
        "Can lisinopril cause ankle swelling?",
    ),
    (
        "fict-002.txt",
        "Hello, in this made-up message I ask where I can find a list of foods low in potassium "
        "for my kidney disease. Thanks.",
        "What foods are low in potassium?",
    ),
    (
        "fict-003.txt",
        "SUBJECT: invented\nMESSAGE: how long does a sprained ankle take to heal, asking for a "
        "fictional friend",
        "How long does a sprained ankle take to heal? ",
    ),
    (
        "fict-004.txt",
        "Fictional writer here: is it safe to take ibuprofen together with paracetamol for a headache?",
        "Can ibuprofen and paracetamol be taken together?",
    ),
    (
        "fict-005.txt",
        " My imaginary son has a rash after eating peanuts, what should we do and is this an allergy?",
        "What are the signs and treatment of a peanut allergy?",
    ),
    (
        "fict-006.txt",
        "SUBJECT: test\nMESSAGE: What vaccines does a made-up adult of 65 years need?",
        "Which vaccines are recommended for adults aged 65?",
    ),
]

PROBLEM_SUMMARY = [
    (
        "F1",
        "Fictional 70 year old with shortness of breath and leg swelling.",
        "Crackles at both bases.",
        "Likely decompensated heart failure.",
        "Heart failure;Edema",
    ),
    (
        "F2",
        "Fictional 45 year old with fever and productive cough.",
        "Temperature 38.9 C.",
        "Community acquired pneumonia.",
        "Pneumonia;Fever",
    ),
    (
        "F3",
        "Fictional 60 year old with high blood sugar readings.",
        "Glucose 320 mg/dL.",
        "Uncontrolled type 2 diabetes.",
        "Type 2 diabetes mellitus;Hyperglycemia",
    ),
    (
        "F4",
        "Fictional 30 year old with burning on urination.",
        "",
        "Urinary tract infection.",
        "Urinary tract infection",
    ),
    (
        "F5",
        "Fictional 82 year old found confused at home.",
        "Sodium 121 mmol/L.",
        "Hyponatremia causing delirium.",
        "Hyponatremia;Delirium;",
    ),
    (
        "F6",
        "Fictional 55 year old with crushing chest pain.",
        "ST elevation in II, III, aVF.",
        "Inferior myocardial infarction.",
        "ST elevation myocardial infarction",
    ),
]

MEDISUMQA = [
    {
        "discharge_summary": "Fictional discharge summary. The invented patient was admitted with pneumonia, "
        "treated with antibiotics and discharged home in good condition.",
        "Question": "Why was I in the hospital?",
        "Answer": "You were treated for a lung infection (pneumonia).",
    },
    {
        "discharge_summary": "Fictional discharge summary. The made-up patient had a fall and a broken wrist, "
        "which was put in a cast.",
        "Question": "What happened to my wrist?",
        "Answer": "You broke your wrist in a fall and it was put in a cast.",
    },
    {
        "discharge_summary": "Fictional discharge summary. The imaginary patient had high blood sugar; insulin was "
        "started and taught.",
        "Question": "What new medicine do I take?",
        "Answer": "You now take insulin for your blood sugar.",
    },
    {
        "discharge_summary": "Fictional discharge summary. The invented patient had kidney stones that passed on "
        "their own with fluids and pain relief.",
        "Question": "Do I need surgery for my stones?",
        "Answer": "No, the stones passed on their own.",
    },
    {
        "discharge_summary": "Fictional discharge summary. The made-up patient had an irregular heartbeat and was "
        "started on a blood thinner.",
        "Question": "Why do I take a blood thinner?",
        "Answer": "It lowers your stroke risk from the irregular heartbeat.",
    },
]

MEDISUMCODE = [
    {
        "hadm_id": 90000001,
        "text": "Fictional discharge letter: invented patient with hypertension and type 2 "
        "diabetes, both controlled on oral medicines.",
        "icd_codes": [
            {"code": "I10", "description": "Essential hypertension"},
            {"code": "E119", "description": "Type 2 diabetes mellitus without complications"},
        ],
    },
    {
        "hadm_id": 90000002,
        "text": "Fictional discharge letter: made-up patient with pneumonia treated with antibiotics.",
        "icd_codes": [{"code": "J189", "description": "Pneumonia, unspecified organism"}],
    },
    {
        "hadm_id": 90000003,
        "text": "Fictional discharge letter: imaginary patient with a urinary tract infection "
        "and reflux disease.",
        "icd_codes": [
            {"code": "N390", "description": "Urinary tract infection"},
            {"code": "K219", "description": "Reflux without esophagitis"},
        ],
    },
    {
        "hadm_id": 90000004,
        "text": "Fictional discharge letter: invented patient with high cholesterol and atrial fibrillation.",
        "icd_codes": [
            {"code": "E785", "description": "Hyperlipidemia, unspecified"},
            {"code": "I4891", "description": "Unspecified atrial fibrillation"},
        ],
    },
    {
        "hadm_id": 90000005,
        "text": "Fictional discharge letter: made-up patient with COPD exacerbation and anemia.",
        "icd_codes": [
            {"code": "J441", "description": "COPD with acute exacerbation"},
            {"code": "D649", "description": "Anemia, unspecified"},
        ],
    },
]


def _question(no: int, text: str, options: list[str], correct: str, location: list[str]) -> dict:
    q = {"No": no, "question": text}
    q.update({f"answer_{l}": o for l, o in zip("abcde", options)})
    q["correct"] = correct
    q["answer_location"] = {t: {"start": [0.1], "end": [0.3]} for t in location}
    return q


LONGHEALTH = {
    "patient_01": {
        "name": "Fictional Person One",
        "birthday": "1950-01-01",
        "diagnosis": "Fictional lymphoma",
        "texts": {
            "text_0": "Fictional admission note. Fictional Person One, 74, was admitted with night sweats and "
            "enlarged neck nodes. A biopsy of a cervical node was planned. Blood counts showed mild "
            "anemia with hemoglobin 10.9 g/dL. The patient lives alone and walks with a cane.",
            "text_1": "Fictional pathology report. The cervical node biopsy of Fictional Person One showed diffuse "
            "large B-cell lymphoma, stage II. No bone marrow involvement was found on the made-up "
            "staging scan.",
            "text_2": "Fictional discharge letter. Fictional Person One received the first cycle of R-CHOP "
            "without complications. Follow-up is planned in three weeks at the invented oncology "
            "clinic. Allergies: penicillin (rash).",
        },
        "questions": [
            _question(
                1,
                "Which lymphoma was diagnosed in Fictional Person One?",
                [
                    "Follicular lymphoma",
                    "Diffuse large B-cell lymphoma",
                    "Hodgkin lymphoma",
                    "Mantle cell lymphoma",
                    "Burkitt lymphoma",
                ],
                "Diffuse large B-cell lymphoma",
                ["text_1"],
            ),
            _question(
                2,
                "Which therapy did Fictional Person One receive first?",
                ["Radiotherapy alone", "Watchful waiting", "R-CHOP", "Stem cell transplant", "Surgery"],
                "R-CHOP",
                ["text_2"],
            ),
            _question(
                3,
                "What allergy does Fictional Person One have?",
                ["Latex", "Penicillin", "Iodine contrast", "Peanuts", "No known allergies"],
                "Penicillin",
                ["text_2"],
            ),
        ],
    },
    "patient_02": {
        "name": "Fictional Person Two",
        "birthday": "1962-05-05",
        "diagnosis": "Fictional heart failure",
        "texts": {
            "text_0": "Fictional admission note. Fictional Person Two, 62, came in with breathlessness on "
            "exertion and swollen ankles. The invented echocardiogram showed an ejection fraction of "
            "30 percent.",
            "text_1": "Fictional cardiology consult. Fictional Person Two was started on a beta blocker and an "
            "ACE inhibitor. Furosemide was given intravenously for fluid overload.",
            "text_2": "Fictional discharge letter. Fictional Person Two lost 4 kg of fluid and was discharged "
            "on oral furosemide. A made-up heart failure nurse will call in one week.",
        },
        "questions": [
            _question(
                1,
                "What was the ejection fraction of Fictional Person Two?",
                ["55 percent", "45 percent", "30 percent", "20 percent", "65 percent"],
                "30 percent",
                ["text_0"],
            ),
            _question(
                2,
                "Which diuretic did Fictional Person Two receive?",
                ["Spironolactone", "Hydrochlorothiazide", "Torasemide", "Furosemide", "Acetazolamide"],
                "Furosemide",
                ["text_1", "text_2"],
            ),
            _question(
                3,
                "How much fluid did Fictional Person Two lose?",
                ["1 kg", "2 kg", "4 kg", "6 kg", "8 kg"],
                "4 kg",
                ["text_2"],
            ),
        ],
    },
    "patient_03": {
        "name": "Fictional Person Three",
        "birthday": "1980-09-09",
        "diagnosis": "Fictional appendicitis",
        "texts": {
            "text_0": "Fictional emergency note. Fictional Person Three, 44, had right lower abdominal pain and "
            "a temperature of 38.4 C. The invented ultrasound suggested acute appendicitis.",
            "text_1": "Fictional operation note. A laparoscopic appendectomy was performed on Fictional Person "
            "Three. The made-up appendix was inflamed but not perforated.",
            "text_2": "Fictional discharge letter. Fictional Person Three recovered well and went home on day "
            "two with paracetamol for pain. Sutures to be removed after ten days.",
        },
        "questions": [
            _question(
                1,
                "Which operation did Fictional Person Three have?",
                [
                    "Open cholecystectomy",
                    "Laparoscopic appendectomy",
                    "Hernia repair",
                    "Colectomy",
                    "No operation",
                ],
                "Laparoscopic appendectomy",
                ["text_1"],
            ),
            _question(
                2,
                "What was the temperature of Fictional Person Three on arrival?",
                ["36.8 C", "37.5 C", "38.4 C", "39.6 C", "40.1 C"],
                "38.4 C",
                ["text_0"],
            ),
            _question(
                3,
                "When should the sutures of Fictional Person Three be removed?",
                [
                    "After three days",
                    "After five days",
                    "After seven days",
                    "After ten days",
                    "They dissolve",
                ],
                "After ten days",
                ["text_2"],
            ),
        ],
    },
}


def main() -> None:
    (HERE / "MedNLI").mkdir(exist_ok=True)
    with (HERE / "MedNLI" / "mli_test_v1.jsonl").open("w", encoding="utf-8") as out:
        for i, (s1, s2, label) in enumerate(MEDNLI):
            out.write(
                json.dumps({"sentence1": s1, "sentence2": s2, "gold_label": label, "pairID": f"fict-{i}"})
                + "\n"
            )

    from openpyxl import Workbook

    (HERE / "MeQSum").mkdir(exist_ok=True)
    book = Workbook()
    sheet = book.active
    sheet.title = "QS"
    sheet.append(["File", "CHQ", "Summary"])
    for row in MEQSUM:
        sheet.append(list(row))
    book.save(HERE / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx")

    (HERE / "ProblemSummary").mkdir(exist_ok=True)
    with (HERE / "ProblemSummary" / "BioNLP2023-1A-Test.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["File ID", "Subjectives", "Objectives", "Assessment", "Summary"])
        writer.writerows(PROBLEM_SUMMARY)

    (HERE / "LongHealth").mkdir(exist_ok=True)
    (HERE / "LongHealth" / "benchmark_v5.json").write_text(
        json.dumps(LONGHEALTH, indent=2) + "\n", encoding="utf-8"
    )

    (HERE / "MeDiSumQA").mkdir(exist_ok=True)  # a JSON list, as CLUE's evaluator reads it
    (HERE / "MeDiSumQA" / "MeDiSumQA.json").write_text(
        json.dumps(MEDISUMQA, indent=2) + "\n", encoding="utf-8"
    )

    (HERE / "MeDiSumCode").mkdir(exist_ok=True)  # JSON lines, as CLUE's generator writes it
    with (HERE / "MeDiSumCode" / "MeDiSumCode.json").open("w", encoding="utf-8") as out:
        for record in MEDISUMCODE:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
