# From CLUE's eval/eval_MeDiSumQA.py at commit ff75877284133361d15f12e4ab290d230f449dd0 (TIO-IKIM/CLUE), MIT License,
# Copyright (c) 2024 Amin Dada, Marie Bauer, Amanda Butler Contreras, Osman Alperen Koraş, Constantin Marc
# Seibold, Kaleb E Smith, Jens Kleesiek; the full notice is in utils.py beside this file.
# The module constants and the lines of main() that load the data and build each model input are verbatim
# (the line numbers of the original are given). main()'s argument parsing, the TGI call and the metrics are
# left out; `model_inputs` yields each model input where main() sends it.
# One line differs: main()'s prefill at ff75877 (line 105, `format(answer="")`) raises KeyError('Answer');
# the line from 10b7f94 (eval_MeDiSumQA.py:103, `format(Answer="")`), the intended prefill, stands in.

from types import SimpleNamespace  # added: main()'s parsed arguments
import json
import random
from .utils import build_few_shot_examples, build_first_turn, build_model_input


def tqdm(iterable, **kwargs):  # added: main() shows a progress bar
    return iterable


# lines 18-27
sys_prompt = "You are a highly skilled assistant, specifically trained to assist lays in understanding and extracting key information from medical documents. Your primary responsibility will be to interprete discharge letters from hospitals. You will receive such a discharge letter. You should carefully review the contents and accurately answer questions related to this document. Only respond with the correct answer to the question. Answer briefly without mentioning a lot of specific details. If the question is about measurements (e.g., lab values), interpret their meaning in relation to the question, rather than writing down the values. Do not generate anything else."

user_prompt_template = """--------------BEGIN DISCHARGE LETTER--------------
{without_discharge_summary}
--------------END DISCHARGE LETTER--------------
Question: {Question}"""

assistant_response_template = """Answer: {Answer}"""

max_new_tokens = 200


def model_inputs(args: SimpleNamespace, tokenizer):  # added: main()'s prompt-building lines, verbatim
    # lines 85-100
    # Load data
    with open(args.data_path, "r") as data_file:
        data = json.load(data_file)
        
    random.seed(1)
    random.shuffle(data)
    

    # Create few shot examples
    chat = None
    if args.num_few_shot_examples > 0:
        chat = build_few_shot_examples(
            data[:args.num_few_shot_examples], sys_prompt, user_prompt_template, assistant_response_template, args.model_has_system, args.model_is_instruct)
    else:
        chat = build_first_turn(sys_prompt, user_prompt=None, assistant_response=None, has_system=args.model_has_system, is_instruct=args.model_is_instruct)

    # lines 102-104
    for i, entry in enumerate((pbar := tqdm(data[args.num_few_shot_examples:]))):

        model_input = build_model_input(entry, user_prompt_template, args.model_is_instruct, chat, tokenizer)
    # line 105 as at 10b7f94 (see the header)
        model_input += assistant_response_template.format(Answer="")
        yield model_input  # added: where main() sends it to TGI
