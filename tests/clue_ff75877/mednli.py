# From CLUE's eval/eval_mednli.py at commit ff75877284133361d15f12e4ab290d230f449dd0 (TIO-IKIM/CLUE), MIT License,
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


# lines 14-24
sys_prompt = """You are a highly skilled assistant, specifically trained to assist medical professionals. You will recieve two sentences, labeled 'SENTENCE_1' and 'SENTENCE_2', respectively. Your task is to determine the logical relation between the two sentences. Valid answers are: ENTAILMENT, NEUTRAL or CONTRADICTION.""" 

user_prompt_template = """
SENTENCE_1: {sentence1}
SENTENCE_2: {sentence2}
"""

assistant_response_template =  """{gold_label}"""

ground_truth_key = "gold_label"
max_new_tokens = 20


def model_inputs(args: SimpleNamespace, tokenizer):  # added: main()'s prompt-building lines, verbatim
    # lines 52-54
    # Load data
    with open(args.data_path, "r") as data_file:
        data = [json.loads(line) for line in data_file]
    # lines 68-70
    # Create few shot examples
    few_shot_chat = build_few_shot_examples(
        data[:args.num_few_shot_examples], sys_prompt, user_prompt_template, assistant_response_template, args.model_has_system, args.model_is_instruct)
    # lines 73-75
    for i, entry in enumerate((pbar := tqdm(data[args.num_few_shot_examples:]))):
        model_input = build_model_input(entry, user_prompt_template, args.model_is_instruct, few_shot_chat, tokenizer)
        model_input += assistant_response_template.format(**{ground_truth_key: ""})
        yield model_input  # added: where main() sends it to TGI
