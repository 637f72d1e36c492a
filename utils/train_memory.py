"""A few SFT steps in a fresh process, measured: time per step, peak memory growth, optimizer state (notebook 20).

Memory is only comparable between two training runs when each starts from a fresh process: a second run in the same
process reuses pages the allocator kept from the first, and its growth hides what it really needs. Notebook 20
prepares the inputs (the tokenizer with its training chat template, the conversations as JSON lines) and runs

    python -m utils.train_memory SETTINGS_JSON

once for LoRA and once for full fine-tuning. SETTINGS_JSON is a JSON object with ``method`` ("lora" or "full"),
``model``, ``tokenizer`` and ``data`` (paths), ``steps``, ``batch_size``, ``learning_rate``, ``max_length`` and, for LoRA,
``lora`` (LoraConfig's keyword arguments); optionally ``num_hidden_layers`` (load only the first blocks). The script
trains with TRL's ``SFTTrainer`` exactly as the notebook does and prints one JSON line: ``rss_before_mib`` (resident
memory after loading the model, before training); ``step_peak_growth_mib`` (per step, the peak resident memory above
that: activations, gradients, optimizer state) and their maximum ``peak_growth_mib``; ``peak_method``;
``optimizer_mib`` (AdamW's state, counted from its tensors); ``trainable``; ``step_seconds``. Resident memory only
shows what the allocator took from the system, never what it freed and reused: compare peaks between steps of the same
batch shape.

Each step's peak comes from the kernel where it can (Linux): the process's high-water mark ``VmHWM``, reset at the
start of each step by writing 5 to ``/proc/self/clear_refs``, is exact. Elsewhere a thread samples the resident memory
every 5 ms, which misses short peaks when the CPU is busy: two sampled runs of notebook 20 on a shared machine gave
LoRA step-1 peaks of 1,341 and 947 MiB for the same step.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from utils.environment import seed_everything
from utils.scratch import scratch_folder


def reset_peak_rss() -> bool:
    """Start a new high-water mark of resident memory at the current value (Linux); False where the system has none."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return peak_rss() is not None


def peak_rss() -> int | None:
    """The process's peak resident memory in bytes since start or the last :func:`reset_peak_rss` (Linux's VmHWM)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _measure(settings: dict) -> dict:
    import gc

    import psutil
    import torch
    from datasets import load_dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    seed_everything(42)
    tokenizer = AutoTokenizer.from_pretrained(settings["tokenizer"])
    # optional "num_hidden_layers": keep only the first blocks (smoke mode: the same code on a smaller model)
    layers = {"num_hidden_layers": settings["num_hidden_layers"]} if "num_hidden_layers" in settings else {}
    model = AutoModelForCausalLM.from_pretrained(settings["model"], dtype=torch.float32, **layers)
    if settings["method"] == "lora":
        model = get_peft_model(model, LoraConfig(**settings["lora"]))
    elif settings["method"] != "full":
        raise ValueError(f"method must be 'lora' or 'full', got {settings['method']!r}")
    dataset = load_dataset("json", data_files=settings["data"])["train"]
    args = SFTConfig(
        output_dir=str(scratch_folder("train_memory")),
        assistant_only_loss=True,
        max_length=settings["max_length"],
        bf16=False,
        activation_checkpointing=False,
        per_device_train_batch_size=settings["batch_size"],
        max_steps=settings["steps"],
        learning_rate=settings["learning_rate"],
        warmup_steps=0,
        save_strategy="no",
        logging_strategy="no",
        seed=42,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    process = psutil.Process()
    result: dict = {"step_seconds": []}

    class Measure(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            gc.collect()
            self.before = process.memory_info().rss
            self.step_peaks = []
            self.running = True
            self.thread = threading.Thread(target=self.sample, daemon=True)
            self.thread.start()

        def sample(self):
            while self.running:
                if self.step_peaks:
                    self.step_peaks[-1] = max(self.step_peaks[-1], process.memory_info().rss)
                time.sleep(0.005)

        def on_step_begin(self, args, state, control, **kwargs):
            self.exact = reset_peak_rss()
            self.step_peaks.append(process.memory_info().rss)
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):  # after the optimizer's step and zero_grad
            result["step_seconds"].append(time.perf_counter() - self.start)
            if self.exact:
                self.step_peaks[-1] = max(self.step_peaks[-1], peak_rss())
            result["peak_method"] = "VmHWM, reset each step (exact)" if self.exact else "sampled every 5 ms"

        def on_train_end(self, args, state, control, **kwargs):
            self.running = False
            self.thread.join()
            optimizer = trainer.optimizer
            result["optimizer_mib"] = (
                sum(
                    t.numel() * t.element_size()
                    for state in optimizer.state.values()
                    for t in state.values()
                    if torch.is_tensor(t)
                )
                / 2**20
            )
            mib = 2**20
            result["rss_before_mib"] = self.before / mib
            result["step_peak_growth_mib"] = [(peak - self.before) / mib for peak in self.step_peaks]
            result["peak_growth_mib"] = max(result["step_peak_growth_mib"])

    trainer.add_callback(Measure())
    trainer.train()
    result["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m utils.train_memory SETTINGS_JSON (see the module's docstring)", file=sys.stderr)
        return 2
    print(json.dumps(_measure(json.loads(argv[0]))))
    return 0


if __name__ == "__main__":  # importing the utils package (utils/__init__.py) has set the offline variables
    raise SystemExit(main(sys.argv[1:]))
