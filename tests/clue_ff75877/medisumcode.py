# From CLUE's eval/eval_MeDiSumCode.py at commit ff75877284133361d15f12e4ab290d230f449dd0 (TIO-IKIM/CLUE), MIT License,
# Copyright (c) 2024 Amin Dada, Marie Bauer, Amanda Butler Contreras, Osman Alperen Koraş, Constantin Marc
# Seibold, Kaleb E Smith, Jens Kleesiek; the full notice is in utils.py beside this file.
# The module constants and the lines of main() that load the data and build each model input are verbatim
# (the line numbers of the original are given). main()'s argument parsing, the TGI call and the metrics are
# left out; `model_inputs` yields each model input where main() sends it.

from types import SimpleNamespace  # added: main()'s parsed arguments
import json
from .utils import build_few_shot_examples, build_first_turn, build_model_input


def tqdm(iterable, **kwargs):  # added: main() shows a progress bar
    return iterable


# lines 14-25
sys_prompt = "You are a highly skilled and detail-oriented assistant, specifically trained to assist medical professionals in interpreting and extracting key information from medical documents. Your primary responsibility will be to analyze discharge letters from hospitals. You will be given such a discharge letter. Your task is to identify all primary and secondary diagnoses from the report and list their respective ICD-10 codes."

user_prompt_template = """--------------BEGIN DISCHARGE LETTER--------------
{text}
--------------END DISCHARGE LETTER--------------
Now return the list of diagnoses ICD-10 codes you found. Only list the ICD-10 codes. Do not generate anything else."""

assistant_response_start = "ICD-10 Codes: "
assistant_response_template =  assistant_response_start + """{codes}"""

ground_truth_key = "codes"
max_new_tokens = 200


def model_inputs(args: SimpleNamespace, tokenizer):  # added: main()'s prompt-building lines, verbatim
    # lines 74-92
    # Load data
    with open(args.data_path, "r") as data_file:
        data = json.load(data_file)
        
    samples = []
    
    for entry in data:
        samples.append({
            "text": entry["text"],
            "codes": ", ".join([diag['code'] for diag in entry["icd_codes"]])
        })

    chat = None
    if args.num_few_shot_examples > 0:
        chat = build_few_shot_examples(
            samples[:args.num_few_shot_examples], sys_prompt, user_prompt_template, assistant_response_template, args.model_has_system, args.model_is_instruct)
    else:
        chat = build_first_turn(sys_prompt, user_prompt=None, assistant_response=None, has_system=args.model_has_system, is_instruct=args.model_is_instruct)

    # lines 94-96
    for i, entry in enumerate((pbar := tqdm(samples[args.num_few_shot_examples:]))):
        model_input = build_model_input(entry, user_prompt_template, args.model_is_instruct, chat, tokenizer)
        model_input += assistant_response_template.format(**{ground_truth_key: ""})
        yield model_input  # added: where main() sends it to TGI
