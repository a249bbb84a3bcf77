"""`clue run --protocol 2024` over real HTTP: the test server sees CLUE 2024's requests (raw prompts on
/v1/completions or TGI's /generate, 2024's answer lengths, the Llama-3 stops, truncation to the last T tokens),
a context overflow is truncated instead of refused, and a chat-only endpoint is refused before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from chat_templates import GEMMA_STYLE, LLAMA3_STYLE, LLAMA3_TOKENS
from conftest import SAMPLES, run_clue
from fake_server import FakeServer

LLAMA3 = "meta-llama/Meta-Llama-3-8B-Instruct"
STOPS = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_end|>"]
MAX_TOKENS = {"mednli": 20, "meqsum": 200, "problem_summary": 100, "longhealth": 50, "medisumqa": 200,
              "medisumcode": 200}
RESERVE = {"mednli": 200, "meqsum": 200, "problem_summary": 100, "longhealth": 50, "medisumqa": 200,
           "medisumcode": 200}
QUIET = ("--no-bertscore", "--no-umls", "--bootstrap", "0", "--data-dir", str(SAMPLES))


def config(tmp_path: Path, server: FakeServer, kind: str) -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(f'[endpoints.e]\nbase_url = "{server.base_url}"\nkind = "{kind}"\nmax_concurrency = 4\n')
    return path


def sent_by_task(out: Path, server: FakeServer, field: str = "prompt") -> dict[str, list[dict]]:
    """The server's recorded raw-prompt calls, grouped by the task whose samples parquet holds that prompt."""
    task_of = {}
    for path in (out / "samples").glob("*.parquet"):
        for prompt in pl.read_parquet(path)["prompt"]:
            task_of[prompt] = path.stem
    grouped: dict[str, list[dict]] = {}
    for call in server.calls:
        sent = call["prompt"] if isinstance(call["prompt"], str) else server.detokenize(call["prompt"])
        task = task_of.get(sent) or next(t for p, t in task_of.items() if p.endswith(sent))  # a cut prompt
        grouped.setdefault(task, []).append(call)
    return grouped


def test_vllm_gets_2024_requests_with_the_hub_template(tmp_path: Path) -> None:
    hub = {f"{LLAMA3}/abc123/tokenizer_config.json": json.dumps({"chat_template": LLAMA3_STYLE, **LLAMA3_TOKENS})}
    with FakeServer(model=LLAMA3, context_length=1000, bos_token="<|begin_of_text|>", hub_files=hub) as server:
        out = tmp_path / "run"
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "vllm")), "--protocol", "2024",
                        "--hf-revision", "abc123", "--out", str(out), *QUIET,
                        env={"HF_ENDPOINT": server.base_url.removesuffix("/v1")})
        assert done.returncode == 0, done.stderr
        calls = sent_by_task(out, server)
    assert {c["route"] for cs in calls.values() for c in cs} == {"/v1/completions"}
    assert set(calls) == set(MAX_TOKENS)
    for task, sent in calls.items():
        for call in sent:
            params, prompt = call["params"], call["prompt"]
            assert params["max_tokens"] == MAX_TOKENS[task] and params["temperature"] == 0
            assert prompt.startswith("<|begin_of_text|><|start_header_id|>") and not call["cut"]
            bare = task == "longhealth" and "\nF: Question cannot be answered" in prompt
            if bare:  # LongHealth tasks 2 and 3: no stops, no truncation
                assert "stop" not in params and "truncate_prompt_tokens" not in params
            else:
                assert params["stop"] == STOPS and params["stop_token_ids"] == [128006, 128007, 128009]
                assert params["truncate_prompt_tokens"] == 1000 - RESERVE[task]
    longhealth = pl.read_parquet(out / "samples" / "longhealth.parquet")  # identical prompts are sent once
    assert len(calls["longhealth"]) == longhealth["key"].n_unique()
    task1 = longhealth.filter(pl.col("lh_task") == 1)["key"].n_unique()
    assert sum("truncate_prompt_tokens" in c["params"] for c in calls["longhealth"]) == task1
    assert calls["meqsum"][0]["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\nQuestion: ")
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["protocol"], manifest["protocol_version"], manifest["wire"]) == ("2024", "clue-ff75877/1", "completions")
    assert manifest["chat_template"] == {"sha256": hashlib.sha256(LLAMA3_STYLE.encode()).hexdigest(),
                                         "origin": f"huggingface {LLAMA3}@abc123"}
    assert manifest["n_truncated_input"] == {t: 0 for t in MAX_TOKENS}
    assert any("medisumqa: 4 of 4 prompt(s)" in line for line in manifest["notes"])
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"] == "2024" and results["tasks"]["meqsum"]["n_truncated_input"] == 0
    assert "protocol 2024: TIO-IKIM/CLUE ff75877" in done.stdout


def test_a_context_overflow_is_truncated_and_counted_on_vllm(tmp_path: Path) -> None:
    with FakeServer(model="some-model", context_length=560) as server:
        out = tmp_path / "run"
        template = tmp_path / "template.jinja"
        template.write_text(LLAMA3_STYLE)
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "vllm")), "--protocol", "2024",
                        "--chat-template", str(template), "--tasks", "mednli,meqsum,medisumcode", "--out", str(out), *QUIET)
        assert done.returncode == 0, done.stderr  # nothing refused: the server kept the last 360 tokens
        calls = sent_by_task(out, server)
    assert all(c["params"]["truncate_prompt_tokens"] == 360 and "stop" not in c["params"]  # no Llama-3 id: no stops
               for cs in calls.values() for c in cs)
    assert not any(c["cut"] for c in calls["mednli"]) and all(c["cut"] for c in calls["meqsum"] + calls["medisumcode"])
    assert all(c["prompt_tokens"] == 360 for c in calls["meqsum"])
    results = json.loads((out / "results.json").read_text())
    assert {t: r["n_truncated_input"] for t, r in results["tasks"].items()} == {"mednli": 0, "meqsum": 3, "medisumcode": 4}
    assert all(r["n_rejected"] == 0 and r["n_errors"] == 0 for r in results["tasks"].values())


def test_tgi_gets_2024s_generate_body(tmp_path: Path) -> None:
    template = tmp_path / "template.jinja"
    template.write_text(LLAMA3_STYLE)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(LLAMA3_TOKENS))
    with FakeServer(model="meta-llama/Llama-3.1-8B-Instruct", context_length=601) as server:
        out = tmp_path / "run"
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "tgi")), "--protocol", "2024",
                        "--chat-template", str(template), "--tasks", "mednli,problem_summary", "--out", str(out), *QUIET)
        assert done.returncode == 0, done.stderr
        calls = sent_by_task(out, server)
    context = 600  # TGI's /info max_input_tokens
    for task, sent in calls.items():
        for call in sent:
            assert call["route"] == "/generate" and isinstance(call["prompt"], str)
            assert call["prompt"].startswith("<|begin_of_text|>")  # the template's BOS, from tokenizer_config.json
            assert call["params"] == {
                "best_of": None, "decoder_input_details": False, "details": False, "do_sample": False,
                "max_new_tokens": MAX_TOKENS[task], "repetition_penalty": None, "return_full_text": False,
                "seed": None, "stop": STOPS, "temperature": None, "top_k": None, "top_p": None,
                "truncate": context - RESERVE[task], "typical_p": None, "watermark": False, "stream": False}
    assert [c["cut"] for c in calls["problem_summary"]] == [True] * 3  # 626 tokens > 500 kept
    results = json.loads((out / "results.json").read_text())
    assert results["tasks"]["problem_summary"]["n_truncated_input"] == 3 and results["tasks"]["mednli"]["n_truncated_input"] == 0
    assert json.loads((out / "manifest.json").read_text())["wire"] == "tgi-generate"


def test_llamacpp_template_from_props_and_ids_cut_on_the_client(tmp_path: Path) -> None:
    with FakeServer(model="gemma", context_length=560, bos_token="<bos>", chat_template=GEMMA_STYLE) as server:
        out = tmp_path / "run"
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "llamacpp")), "--protocol",
                        "2024", "--tasks", "mednli,meqsum", "--out", str(out), *QUIET)
        assert done.returncode == 0, done.stderr
        calls = sent_by_task(out, server)
    assert all(isinstance(c["prompt"], str) and c["prompt"].startswith("<bos><start_of_turn>user\n")
               for c in calls["mednli"])
    for call in calls["meqsum"]:  # 576 tokens + BOS: the client sent the last 360 token ids
        assert isinstance(call["prompt"], list) and len(call["prompt"]) == 360 and call["prompt_tokens"] == 360
        assert "truncate" not in call["params"] and "truncate_prompt_tokens" not in call["params"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["chat_template"]["origin"] == "server /props" and manifest["n_truncated_input"] == {"mednli": 0, "meqsum": 3}
    samples = pl.read_parquet(out / "samples" / "meqsum.parquet")
    assert samples["input_tokens"].to_list() == [len(server.raw_prompt_ids(p)) for p in samples["prompt"]]
    assert samples["input_truncated"].to_list() == [True] * 3 and min(samples["input_tokens"]) > 360


def test_base_model_form_needs_no_template(tmp_path: Path) -> None:
    with FakeServer(model="base-model", context_length=1000) as server:
        out = tmp_path / "run"
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "vllm")), "--protocol", "2024",
                        "--base-model", "--tasks", "meqsum", "--out", str(out), *QUIET)
        assert done.returncode == 0, done.stderr
    prompts = [c["prompt"] for c in server.calls]
    assert len(prompts) == 3 and all(p.startswith("You are a highly skilled assistant") for p in prompts)
    assert all(p.endswith("--------------END PATIENT INQUIRY--------------\n\nQuestion: ") for p in prompts)
    assert json.loads((out / "manifest.json").read_text())["chat_template"] is None


def test_a_chat_only_endpoint_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    with FakeServer(model="gpt-4o-mini") as server:
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "openai")), "--protocol", "2024",
                        "--tasks", "meqsum", "--out", str(tmp_path / "run"), *QUIET)
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0 and "chat-only API" in done.stderr
        assert not server.calls and not server.requests and not server.auth_headers  # nothing sent, not even /models
    assert not (tmp_path / "run" / "store.sqlite").exists()


def test_a_hosted_url_is_taken_as_chat_only() -> None:
    done = run_clue("run", "--endpoint", "https://api.example.invalid/v1", "--protocol", "2024", "--tasks", "meqsum",
                    "--model", "m", *QUIET)
    assert done.returncode == 2 and "hosted, no server kind set: a chat-only API" in done.stderr
    assert done.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("flags, message", [
    (("--protocol", "2025", "--base-model"), "use --protocol 2024"),
    (("--protocol", "2024", "--base-model", "--fold-system"), "choose one"),
    (("--protocol", "2024", "--temperature", "0.7"), "decodes greedily"),
])
def test_protocol_flag_misuse_is_one_line(tmp_path: Path, flags: tuple[str, ...], message: str) -> None:
    with FakeServer() as server:
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "vllm")), *flags,
                        "--tasks", "mednli", "--out", str(tmp_path / "run"), *QUIET)
        assert not server.calls and not server.requests
    assert done.returncode == 2 and message in done.stderr and done.stderr.strip().count("\n") == 0


def test_dry_run_plans_2024_answer_lengths(tmp_path: Path) -> None:
    with FakeServer(model=LLAMA3, context_length=1000, chat_template=LLAMA3_STYLE) as server:
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "llamacpp")), "--protocol",
                        "2024", "--tasks", "mednli,meqsum", "--dry-run", "--out", str(tmp_path / "run"), *QUIET)
        assert not server.calls
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.split()[:1] in (["mednli"], ["meqsum"])}
    assert rows["mednli"][-1] == f"{5 * 20:,}" and rows["meqsum"][-1] == f"{3 * 200:,}"  # completion tok ceiling


def test_batch_export_and_import_raw_prompt_completions(tmp_path: Path) -> None:
    template = tmp_path / "template.jinja"
    template.write_text(LLAMA3_STYLE)
    run = tmp_path / "run"
    with FakeServer(model=LLAMA3, context_length=1000) as server:
        cfg = config(tmp_path, server, "vllm")
        done = run_clue("batch", "export", "--endpoint", "e", "--config", str(cfg), "--protocol", "2024",
                        "--chat-template", str(template), "--tasks", "mednli", "--run", str(run), "--data-dir", str(SAMPLES))
        assert done.returncode == 0, done.stderr
        assert not server.calls  # export sends no prompt
        (tmp_path / "tgi").mkdir()
        tgi = config(tmp_path / "tgi", server, "tgi")
        refused = run_clue("batch", "export", "--endpoint", "e", "--config", str(tgi), "--protocol", "2024",
                           "--chat-template", str(template), "--tasks", "mednli", "--run", str(tmp_path / "tgi-run"),
                           "--data-dir", str(SAMPLES))
    assert refused.returncode == 2 and "tgi-generate requests" in refused.stderr
    lines = [json.loads(line) for line in (run / "batch_requests.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and {line["url"] for line in lines} == {"/v1/completions"}
    body = lines[0]["body"]
    assert body["prompt"].endswith("<|start_header_id|>assistant<|end_header_id|>\n\n") and "messages" not in body
    assert (body["max_tokens"], body["truncate_prompt_tokens"], body["stop"]) == (20, 800, STOPS)
    output = tmp_path / "out.jsonl"
    output.write_text("".join(json.dumps({"custom_id": line["custom_id"], "error": None, "response": {
        "status_code": 200, "request_id": "r", "body": {"choices": [{"text": "neutral", "finish_reason": "stop"}]}}}) + "\n"
        for line in lines))
    imported = run_clue("batch", "import", str(output), "--run", str(run), "--no-bertscore", "--no-umls", "--bootstrap", "0")
    assert imported.returncode == 0, imported.stderr
    results = json.loads((run / "results.json").read_text())
    assert results["protocol"] == "2024" and results["tasks"]["mednli"]["n"] == 5
    assert pl.read_parquet(run / "predictions" / "mednli.parquet")["prediction"].to_list() == ["neutral"] * 5


def test_a_builtin_template_name_is_no_template(tmp_path: Path) -> None:
    with FakeServer(model="gemma", chat_template="gemma") as server:
        done = run_clue("run", "--endpoint", "e", "--config", str(config(tmp_path, server, "llamacpp")), "--protocol",
                        "2024", "--tasks", "mednli", "--out", str(tmp_path / "run"), *QUIET)
        assert not server.calls
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "built-in template 'gemma', not Jinja text" in done.stderr and "--chat-template FILE" in done.stderr
