"""The course machinery: the asset layer that fetches, prepares, builds and names every model and dataset.

One-way chain, bottom to top (a module imports only modules below it; tests/unit/test_layers.py enforces it):

    files                      paths in the repository and the asset home, the .complete marker
    archives, schemas          pinned kit archives (download, verify); dataset label names and columns
    prepared, kit              datasets prepared from kit files; asset folders extracted from the archives
    registry                   the stand-in specs and where built ones live
    catalog                    every model and dataset name, local and hub, resolved without building
    training                   the recipes that fine-tune stand-ins
    build                      building a stand-in (fingerprint, card, CLI)
    resolve, status            checkpoint()/dataset_args() for notebooks; the asset table
    __main__                   the command line: python -m utils.course {kit | standins | list | status}
"""
