# From CLUE's eval/eval_ProblemSummary.py at commit ff75877284133361d15f12e4ab290d230f449dd0 (TIO-IKIM/CLUE), MIT License,
# Copyright (c) 2024 Amin Dada, Marie Bauer, Amanda Butler Contreras, Osman Alperen Koraş, Constantin Marc
# Seibold, Kaleb E Smith, Jens Kleesiek; the full notice is in utils.py beside this file.
# The module constants and the lines of main() that load the data and build each model input are verbatim
# (the line numbers of the original are given). main()'s argument parsing, the TGI call and the metrics are
# left out; `model_inputs` yields each model input where main() sends it.

from types import SimpleNamespace  # added: main()'s parsed arguments
import csv
from .utils import build_few_shot_examples, build_first_turn, build_model_input


def tqdm(iterable, **kwargs):  # added: main() shows a progress bar
    return iterable


# lines 17-30
sys_prompt = "You are a highly skilled and detail-oriented assistant, specifically trained to assist medical professionals in interpreting and extracting key information from medical documents. Your primary responsibility will be to analyze discharge letters from hospitals. You will receive an excerpt of such a discharge letter. Your task is to summarize the diagnoses and problems that led to the patient's hospitalization."

user_prompt_template = """--------------BEGIN DISCHARGE LETTER--------------
{Subjectives}

{Assessment}
--------------END DISCHARGE LETTER--------------
Now respond with the list of diagnoses and patient problems. Do not generate anything else."""

assistant_response_start = "Diagnoses/Patient problems: "
assistant_response_template =  assistant_response_start + """{Summary}"""

ground_truth_key = "Summary"
max_new_tokens = 100


def model_inputs(args: SimpleNamespace, tokenizer):  # added: main()'s prompt-building lines, verbatim
    # lines 82-90
    # Load data
    with open(args.data_path, "r", newline="") as csvfile:
        csv_reader = csv.reader(csvfile)
        headers = next(csv_reader)
        data = [{header: value for header, value in zip(headers, row)} for row in csv_reader]
        for i in range(len(data)):
            if data[i]["Summary"][-1] == ";":
                data[i]["Summary"][:-1]
            data[i]["Summary"] = data[i]["Summary"].replace(";", ", ")
    # lines 92-93
    # Create few shot examples
    few_shot_chat = build_few_shot_examples(data[:args.num_few_shot_examples], sys_prompt, user_prompt_template, assistant_response_template, args.model_has_system, args.model_is_instruct)
    # lines 97-99
    for i, entry in enumerate((pbar := tqdm(data[args.num_few_shot_examples:]))):
        model_input = build_model_input(entry, user_prompt_template, args.model_is_instruct, few_shot_chat, tokenizer)
        model_input += assistant_response_template.format(**{ground_truth_key: ""})
        yield model_input  # added: where main() sends it to TGI
