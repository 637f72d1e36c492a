"""``torch.compile`` on a causal LM's greedy decoding: the compile time against the speed-up (notebook 24).

Compiling SmolLM2 takes minutes on one CPU thread, more than notebook 24's time budget, so the notebook shows the
figures this script saved the last time it ran on the machine:

    python -m utils.compile_benchmark MODEL_FOLDER [--new-tokens N] [--repeats R] [--cache static|dynamic]
                                       [--backend inductor]

It loads the model in float32, decodes one fixed chat prompt greedily with ``generate`` (the static KV cache by
default: fixed shapes, so the decode steps share one compiled graph), first as it is, then after
``model.forward = torch.compile(model.forward)``. It prints one JSON line and writes it to
``<asset home>/runs/24/compile-<cache>.json``: the machine (CPU, threads, load average, torch version, date), the
median time per output token of each, the compile time (the compiled model's first call minus the eager time of the
same call), the speed-up, the greedy tokens of both (they must be identical) and the number of tokens after which
compiling has paid for itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from utils.environment import asset_home, display_path

PROMPT = "Explain in a short paragraph why the sky is blue."


def decode_timing(model, inputs: dict, new_tokens: int, repeats: int, **generate_kwargs) -> dict:
    """Median seconds of greedy ``generate`` for 1 and for 1 + ``new_tokens`` tokens, the time per output token
    (their difference over ``new_tokens``) and the generated token ids of the longer call."""
    import torch

    def run(n):
        with torch.no_grad():
            start = time.perf_counter()
            out = model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, **generate_kwargs)
            return time.perf_counter() - start, out[0, inputs["input_ids"].shape[1] :].tolist()

    first = statistics.median(run(1)[0] for _ in range(repeats))
    runs = [run(1 + new_tokens) for _ in range(repeats)]
    total = statistics.median(seconds for seconds, _ in runs)
    return {"first_s": first, "total_s": total, "tpot_s": (total - first) / new_tokens, "tokens": runs[-1][1]}


def summarise(eager_tpot_s: float, compiled_tpot_s: float, first_call_s: float, eager_call_s: float) -> dict:
    """Compile time (the compiled model's first call minus the eager time of the same call), the speed-up of a decode
    step (eager time per token ÷ compiled) and the break-even: the output tokens whose saved time repays the compile
    (``None`` when compiling made decoding no faster)."""
    compile_s = max(first_call_s - eager_call_s, 0.0)
    saved_per_token = eager_tpot_s - compiled_tpot_s
    return {
        "compile_s": compile_s,
        "speedup": eager_tpot_s / compiled_tpot_s,
        "break_even_tokens": compile_s / saved_per_token if saved_per_token > 0 else None,
    }


def measure(
    model, inputs: dict, new_tokens: int = 32, repeats: int = 3, cache: str = "static", backend: str = "inductor"
) -> dict:
    """Eager decoding, then ``torch.compile(model.forward, backend=backend)`` (the model's forward is replaced):
    the timings of both and :func:`summarise`. Raises ``ValueError`` for a cache other than static or dynamic."""
    import torch

    if cache not in ("static", "dynamic"):
        raise ValueError(f"cache must be 'static' or 'dynamic', got {cache!r}")
    kwargs = {"cache_implementation": "static"} if cache == "static" else {}
    kwargs["pad_token_id"] = model.generation_config.pad_token_id or model.generation_config.eos_token_id
    decode_timing(model, inputs, 2, 1, **kwargs)  # warm-up
    eager = decode_timing(model, inputs, new_tokens, repeats, **kwargs)
    model.forward = torch.compile(model.forward, backend=backend)
    start = time.perf_counter()
    decode_timing(model, inputs, new_tokens, 1, **kwargs)  # compiles (prefill and decode shapes), then runs
    first_call_s = time.perf_counter() - start
    compiled = decode_timing(model, inputs, new_tokens, repeats, **kwargs)
    eager_call_s = eager["first_s"] + eager["total_s"]  # the same two calls as the first compiled run, eagerly
    return {
        "cache": cache,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "eager_tpot_s": eager["tpot_s"],
        "compiled_tpot_s": compiled["tpot_s"],
        "first_call_s": first_call_s,
        "eager_call_s": eager_call_s,
        **summarise(eager["tpot_s"], compiled["tpot_s"], first_call_s, eager_call_s),
        "same_tokens": eager["tokens"] == compiled["tokens"],
    }


def machine() -> dict:
    """CPU name, cores, PyTorch threads, 1-minute load average, torch version and today's date."""
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    return {
        "cpu": name or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "date": date.today().isoformat(),
    }


def result_path(cache: str) -> Path:
    """Where the last result for this cache is kept: ``<asset home>/runs/24/compile-<cache>.json``."""
    return asset_home() / "runs" / "24" / f"compile-{cache}.json"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.compile_benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a model folder (notebook 24 passes checkpoint('smollm2'))")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", choices=["static", "dynamic"], default="static")
    parser.add_argument(
        "--backend", default="inductor", help="torch.compile's backend ('eager': trace only, for tests)"
    )
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    model.generation_config.temperature = model.generation_config.top_p = None  # greedy: no sampling settings
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    result = {
        "command": " ".join(["python -m utils.compile_benchmark", display_path(args.model), *argv[1:]]),
        "machine": machine(),
        **measure(model, inputs, args.new_tokens, args.repeats, args.cache, args.backend),
    }
    path = result_path(args.cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":  # importing the utils package (utils/__init__.py) has set the offline variables
    raise SystemExit(main(sys.argv[1:]))
