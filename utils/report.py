"""The environment report shown in notebook 00: versions, device, cores, mode, asset home."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from utils.environment import asset_home, display_path, hub_mode
from utils.modes import mode_name

PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "evaluate",
    "accelerate",
    "faiss-cpu",
    "pandas",
    "matplotlib",
    "nbval",
)


def environment_report() -> dict[str, str]:
    """Versions of the key packages, the compute device, CPU cores, mode, hub switch and asset home."""
    import torch

    report = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            report[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            report[package] = "not installed"
    report["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    report["cpu cores"] = str(os.cpu_count())
    report["torch threads"] = str(torch.get_num_threads())
    report["mode"] = mode_name()
    report["models from"] = "hub (LLM_RETREAT_HUB=1)" if hub_mode() else "local asset home"
    report["asset home"] = display_path(asset_home(), asset_relative=False)
    return report
