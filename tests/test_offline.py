import os
import socket

import pytest

from tests.conftest import NetworkBlocked


def test_sockets_are_blocked_for_unit_tests():
    with pytest.raises(NetworkBlocked, match="network access attempted"):
        socket.create_connection(("example.org", 443), timeout=1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkBlocked):
            sock.connect(("127.0.0.1", 9))
    finally:
        sock.close()


def test_offline_flags_are_set_before_hf_imports():
    import huggingface_hub.constants as hub_constants

    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
        assert os.environ.get(flag) == "1", flag
    assert hub_constants.HF_HUB_OFFLINE is True


def test_loading_an_unknown_hub_id_fails_fast_without_network():
    from transformers import AutoConfig

    with pytest.raises(OSError):
        AutoConfig.from_pretrained("no-such-org/no-such-model-llm-retreat")
