"""GluonTS-backed dataset loading: the repository's recipes, its on-disk layout, ``ListDataset``.

Used by :mod:`tsdiff.datasets` (which deals in paths, numpy and pandas) and by the adapter.
Imports gluonts and :func:`tsdiff.frames.normalize_freq` only.
"""

from __future__ import annotations

from ..frames import normalize_freq

__all__ = ["dataset_recipe_names", "load_gluonts_dataset", "make_list_dataset"]


def dataset_recipe_names() -> list[str]:
    """Names GluonTS's ``get_dataset`` knows a recipe (download + processing) for."""
    from gluonts.dataset.repository.datasets import dataset_recipes

    return sorted(dataset_recipes)


def load_gluonts_dataset(name: str, path: "str | None" = None):
    """Load a dataset in GluonTS's on-disk layout as a ``gluonts.dataset.common.TrainDatasets``.

    Names GluonTS has a recipe for go through ``get_dataset(name, path=path)``
    (``get_dataset(name)``, GluonTS's default folder, when ``path`` is None). It reads
    ``path/name`` when that folder exists and downloads into it otherwise;
    ``regenerate`` is never set. GluonTS 0.17's ``get_dataset`` refuses any other name
    (it asserts the name is a recipe), so a custom dataset written in the same layout
    (such as tsdiff's ``weather_jena_hourly``) is read with
    ``gluonts.dataset.common.load_datasets(metadata, train, test)``, which is what
    ``get_dataset`` itself calls once the folder exists.

    Raises
    ------
    FileNotFoundError
        For a name with no GluonTS recipe and no ``path/name/metadata.json``.
    """
    from pathlib import Path

    from gluonts.dataset.common import load_datasets
    from gluonts.dataset.repository import get_dataset

    if name in dataset_recipe_names():
        if path is None:
            return get_dataset(name)
        return get_dataset(name, path=Path(path))
    folder = Path(path) / name if path is not None else None
    if folder is None or not (folder / "metadata.json").is_file():
        where = f"{folder}" if folder is not None else "no data folder"
        raise FileNotFoundError(
            f"dataset {name!r} is not a GluonTS repository dataset and was not found ({where}); "
            f"custom datasets must be in GluonTS's layout: <path>/{name}/metadata.json, train/, test/")
    test = folder / "test"
    return load_datasets(metadata=folder, train=folder / "train", test=test if test.is_dir() else None)


def make_list_dataset(entries: "list[dict]", freq: str):
    """A ``gluonts.dataset.common.ListDataset`` of ``entries`` (dicts with ``start``, ``target``, ...)."""
    from gluonts.dataset.common import ListDataset

    return ListDataset(entries, freq=normalize_freq(freq))
