# From CLUE's eval/eval_meqsum.py at commit ff75877284133361d15f12e4ab290d230f449dd0 (TIO-IKIM/CLUE), MIT License,
# Copyright (c) 2024 Amin Dada, Marie Bauer, Amanda Butler Contreras, Osman Alperen Koraş, Constantin Marc
# Seibold, Kaleb E Smith, Jens Kleesiek; the full notice is in utils.py beside this file.
# The module constants and the lines of main() that load the data and build each model input are verbatim
# (the line numbers of the original are given). main()'s argument parsing, the TGI call and the metrics are
# left out; `model_inputs` yields each model input where main() sends it.

from types import SimpleNamespace  # added: main()'s parsed arguments
import pandas as pd
from .utils import build_few_shot_examples, build_first_turn, build_model_input


def tqdm(iterable, **kwargs):  # added: main() shows a progress bar
    return iterable


# lines 17-26
sys_prompt = "You are a highly skilled assistant, specifically trained to assist patients. Your primary responsibility will be to summarize patient inquiries as concise question. You will be given such a patient inquiry. You will be expected to summarize and rewrite the inquiry as a concise question. Only write out the question. Do not add any other text."

user_prompt_template = """--------------PATIENT INQUIRY--------------
{CHQ}
--------------END PATIENT INQUIRY--------------"""

assistant_response_start = "Question: "
assistant_response_template =  assistant_response_start + """{Summary}"""

ground_truth_key = "Summary"


def model_inputs(args: SimpleNamespace, tokenizer):  # added: main()'s prompt-building lines, verbatim
    # lines 82-84
    # Load data
    df = pd.read_excel(args.data_path)
    data = df.to_dict('records')
    # lines 86-88
    # Create few shot examples
    few_shot_chat = build_few_shot_examples(
        data[:args.num_few_shot_examples], sys_prompt, user_prompt_template, assistant_response_template, args.model_has_system, args.model_is_instruct)
    # lines 91-93
    for i, entry in enumerate((pbar := tqdm(data[args.num_few_shot_examples:]))):
        model_input = build_model_input(entry, user_prompt_template, args.model_is_instruct, few_shot_chat, tokenizer)
        model_input += assistant_response_template.format(**{ground_truth_key: ""})
        yield model_input  # added: where main() sends it to TGI
