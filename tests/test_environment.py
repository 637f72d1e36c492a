"""utils.environment: one source for the variables, and which warnings a learner sees."""

import logging
import subprocess
import sys
import warnings

from utils import environment


def test_the_makefile_exports_come_from_environment_defaults():
    printed = subprocess.run(
        [sys.executable, "utils/environment.py", "--make"],
        capture_output=True,
        text=True,
        cwd=environment.REPO_ROOT,
        check=True,
    ).stdout.split()
    assert printed == [f"{key}={value}" for key, value in environment.environment_defaults().items()]
    assert "PYTHONHASHSEED=0" in printed and "HF_HUB_OFFLINE=1" in printed


def test_hub_mode_leaves_the_offline_flags_out(monkeypatch):
    monkeypatch.setenv("LLM_RETREAT_HUB", "1")
    assert not set(environment.OFFLINE_FLAGS) & set(environment.environment_defaults())


def test_library_noise_is_filtered_by_message_not_by_category():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        environment.silence_library_noise()
        warnings.warn("Specifying null_placement in SortOptions is deprecated", FutureWarning, stacklevel=1)
        warnings.warn("your own code uses something deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["your own code uses something deprecated"]


def test_the_warning_that_explains_a_too_long_text_is_shown():
    """TRANSFORMERS_VERBOSITY=error quiets transformers, but not the tokenizer's warning that a text is longer than the
    model accepts: it explains the size-mismatch error the forward pass raises next."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    environment.configure()
    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "word": 1}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=8, unk_token="[UNK]")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # beside transformers' own handler (its logger does not propagate to the root)
    logging.getLogger("transformers").addHandler(handler)
    try:
        tokenizer("word " * 20)
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert any("longer than the specified maximum sequence length for this model (20 > 8)" in m for m in messages)
    quiet = logging.getLogger("transformers.modeling_utils")
    assert not quiet.isEnabledFor(logging.WARNING)  # the rest of transformers stays at error


def test_bf16_enabled_follows_the_cpu_and_the_switch(monkeypatch):
    """bf16 autocast only where the CPU computes bfloat16 in hardware, never with LLM_RETREAT_BF16=0; the same answer
    as the stand-in builds' own probe (utils/course/training.py keeps its copy: its bytes are in every stand-in's
    fingerprint)."""
    import torch

    from utils.course.training import cpu_has_native_bf16
    from utils.environment import bf16_enabled

    monkeypatch.delenv("LLM_RETREAT_BF16", raising=False)
    assert bf16_enabled() == cpu_has_native_bf16()
    for off in ("0", "false", "no"):
        monkeypatch.setenv("LLM_RETREAT_BF16", off)
        assert bf16_enabled() is False
    monkeypatch.setenv("LLM_RETREAT_BF16", "1")
    for amx, avx in ((False, False), (True, False), (False, True)):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda avx=avx: avx, raising=False)
        assert bf16_enabled() is (amx or avx) is cpu_has_native_bf16()
