"""What is in the asset home: one table of every archive, kit asset, prepared dataset and stand-in.

``python -m utils.course status`` prints it (sizes, sources, licences); notebook 00 shows the same rows.
The top of the course layer's chain: it reads every other module and none reads it.
"""

from __future__ import annotations

from utils.course import archives, kit, prepared, registry
from utils.course.files import folder_size, format_table, human_size
from utils.environment import asset_home, configure, display_path
from utils.modes import mode_name


def _row(asset: str, present: bool, size: int, source: str, licence: str) -> dict[str, str]:
    return {
        "asset": asset,
        "present": "yes" if present else "no",
        "size": human_size(size) if present else "-",
        "source": source,
        "licence": licence,
    }


def status_rows() -> list[dict[str, str]]:
    """One row per archive, kit asset, prepared dataset and stand-in (current mode)."""
    rows = []
    folder = archives.archive_dir()
    for pin in archives.pins().values():
        path = archives.find_archive(folder, pin) if folder.exists() else None
        rows.append(
            _row(
                f"archives/{path.name if path else pin.package + '==' + pin.version}",
                path is not None,
                folder_size(path) if path else 0,
                f"PyPI {pin.package}=={pin.version}",
                "(archive)",
            )
        )
    for asset in kit.ASSETS:
        rows.append(_row(asset.name, kit.is_fetched(asset), folder_size(asset.folder), asset.source, asset.licence))
    for entry in prepared.PREPARED.values():
        rows.append(
            _row(
                f"datasets/{entry.name}",
                prepared.is_ready(entry),
                folder_size(entry.folder),
                entry.source,
                entry.licence,
            )
        )
    for name, spec in registry.SPECS.items():
        path = registry.model_dir(name)
        rows.append(
            _row(
                f"standins/{mode_name()}/{name}",
                registry.is_built(name),
                folder_size(path),
                f"built here from all-MiniLM-L6-v2 + {spec.dataset}",
                "Apache-2.0 weights; see data licence",
            )
        )
    return rows


def main() -> int:
    configure()
    print(f"asset home: {display_path(asset_home(), asset_relative=False)}")
    print(format_table(status_rows()))
    return 0
