"""ichbench dataset → nnU-Net v2 raw dataset and cross-validation splits, inside a run folder.

nnU-Net expects ``<raw>/DatasetNNN_Name/{imagesTr,labelsTr,dataset.json}`` with one file per
input channel (``<case>_0000.nii.gz`` for the CT, ``<case>_0001.nii.gz`` for the cascade's
coarse mask) and, for custom folds, ``<preprocessed>/DatasetNNN_Name/splits_final.json``.
This module writes exactly that from an ichbench protocol, so nnU-Net's own random split
is never used: fold ``k``'s validation cases are ``protocol.fold_val(k)``, in that order.

Every volume is re-written through :mod:`ichbench.io.nifti` (CT as stored, labels and masks
binarised to uint8) with the CT's geometry, so nnU-Net reads one consistent grid per case
even when the source files differ in type or scaling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ichbench.io.atomic import write_json
from ichbench.io.volumes import Geometry, read_geometry, read_volume, write_volume

if TYPE_CHECKING:
    from ichbench.data.dataset import Dataset
    from ichbench.data.protocol import Protocol

#: nnU-Net dataset id and name used inside every run folder (one dataset per run folder,
#: so a fixed id never collides).
DATASET_ID = 1
DATASET_NAME = "Dataset001_ICH"
FILE_ENDING = ".nii.gz"

#: nnU-Net channel names: "CT" selects nnU-Net's CT normalisation (clip to the foreground's
#: 0.5–99.5 percentiles, z-score with the foreground's statistics); "noNorm" leaves the
#: binary coarse mask as 0/1.
CT_CHANNEL = "CT"
MASK_CHANNEL = "noNorm"


@dataclass(frozen=True)
class RawDataset:
    """Where a converted dataset lives.

    Attributes
    ----------
    folder
        ``<raw>/Dataset001_ICH``.
    n_channels
        1 (CT) or 2 (CT + coarse mask).
    """

    folder: Path
    n_channels: int

    @property
    def images_tr(self) -> Path:
        """Training images, ``<case>_<channel:04d>.nii.gz``."""
        return self.folder / "imagesTr"

    @property
    def labels_tr(self) -> Path:
        """Training labels, ``<case>.nii.gz`` (0 background, 1 ICH)."""
        return self.folder / "labelsTr"

    @property
    def images_ts(self) -> Path:
        """Cases to predict (validation, test, unlabeled), same naming as imagesTr."""
        return self.folder / "imagesTs"

    def channel_files(self, case_id: str, *, training: bool) -> list[Path]:
        """The input files of one case, channel 0 first."""
        folder = self.images_tr if training else self.images_ts
        return [folder / f"{case_id}_{c:04d}{FILE_ENDING}" for c in range(self.n_channels)]


def dataset_json(*, n_training: int, with_mask: bool) -> dict[str, object]:
    """The ``dataset.json`` nnU-Net v2 reads (channels, labels, file ending)."""
    channels = {"0": CT_CHANNEL}
    if with_mask:
        channels["1"] = MASK_CHANNEL
    return {
        "channel_names": channels,
        "labels": {"background": 0, "ICH": 1},
        "numTraining": n_training,
        "file_ending": FILE_ENDING,
        "overwrite_image_reader_writer": "SimpleITKIO",
    }


def splits_from_protocol(protocol: Protocol) -> list[dict[str, list[str]]]:
    """nnU-Net's ``splits_final.json`` content: one ``{"train", "val"}`` per protocol fold."""
    return [{"train": list(protocol.fold_train(k)), "val": list(protocol.fold_val(k))}
            for k in range(protocol.n_folds)]


def write_splits(protocol: Protocol, preprocessed_dataset_dir: Path) -> Path:
    """Write ``splits_final.json`` equal to the protocol's folds; return its path."""
    path = preprocessed_dataset_dir / "splits_final.json"
    write_json(path, splits_from_protocol(protocol))
    return path


def _write_case(image: Path, masks: list[Path], label: Path | None, out_images: Path,
                out_label: Path | None, case_id: str) -> None:
    ct = read_volume(image)
    geometry = ct.geometry
    write_volume(ct.array, geometry, out_images / f"{case_id}_0000{FILE_ENDING}")
    for channel, mask_path in enumerate(masks, start=1):
        _write_binary_on_grid(mask_path, geometry,
                              out_images / f"{case_id}_{channel:04d}{FILE_ENDING}",
                              what=f"coarse mask of case {case_id}",
                              fix="; re-run the coarse stage")
    if label is not None and out_label is not None:
        _write_binary_on_grid(label, geometry, out_label / f"{case_id}{FILE_ENDING}",
                              what=f"label of case {case_id}", fix="")


def _write_binary_on_grid(source: Path, geometry: Geometry, target: Path, *, what: str,
                          fix: str) -> None:
    """Copy a mask as 0/1 onto the CT's grid, refusing one that lies on another grid."""
    mask = read_volume(source)
    problem = geometry.mismatch(mask.geometry)
    if problem is not None:
        raise ValueError(f"{source}: {what} is not on its CT's grid: {problem}{fix}")
    write_volume((mask.array > 0).astype(np.uint8), geometry, target)


def _is_done(files: list[Path]) -> bool:
    return all(f.is_file() for f in files)


def convert_dataset(dataset: Dataset, protocol: Protocol, raw_root: Path, *,
                    masks: Mapping[str, Path] | None = None,
                    log=print) -> RawDataset:  # type: ignore[no-untyped-def]
    """Write the nnU-Net raw dataset for ``protocol``'s training and prediction cases.

    Parameters
    ----------
    dataset, protocol
        Cases and splits. Training cases (``protocol.train``) go to imagesTr/labelsTr, the
        cases of ``protocol.predict_splits()`` to imagesTs.
    raw_root
        nnU-Net's ``nnUNet_raw`` folder (inside the run folder).
    masks
        For the cascade: case id → coarse mask file for EVERY case written (out-of-fold
        masks for training cases, ensemble masks for the others). None for CT alone.
    log
        One-line progress messages.

    Returns
    -------
    RawDataset
        The dataset folder. Cases whose files already exist are kept (resume).

    Raises
    ------
    ValueError
        If a training case has no label, a mask is missing, or a mask/label is not on its
        CT's grid.
    """
    with_mask = masks is not None
    raw = RawDataset(folder=raw_root / DATASET_NAME, n_channels=2 if with_mask else 1)
    for folder in (raw.images_tr, raw.labels_tr, raw.images_ts):
        folder.mkdir(parents=True, exist_ok=True)

    def mask_list(case_id: str) -> list[Path]:
        if masks is None:
            return []
        if case_id not in masks:
            raise ValueError(f"no coarse mask for case {case_id}; the cascade needs one for "
                             "every case (out-of-fold for training cases)")
        return [Path(masks[case_id])]

    train_ids = tuple(protocol.train)
    for cid in train_ids:
        case = dataset.case(cid)
        if case.label is None:
            raise ValueError(f"training case {cid} has no label file ({case.image}); "
                             "training cases must be labelled")
        files = [*raw.channel_files(cid, training=True), raw.labels_tr / f"{cid}{FILE_ENDING}"]
        if not _is_done(files):
            _write_case(case.image, mask_list(cid), case.label, raw.images_tr, raw.labels_tr,
                        cid)
    predict_ids = [cid for split in protocol.predict_splits() for cid in getattr(protocol, split)]
    for cid in predict_ids:
        if not _is_done(raw.channel_files(cid, training=False)):
            _write_case(dataset.case(cid).image, mask_list(cid), None, raw.images_ts, None, cid)
    write_json(raw.folder / "dataset.json",
               dataset_json(n_training=len(train_ids), with_mask=with_mask))
    log(f"nnU-Net raw dataset: {len(train_ids)} training, {len(predict_ids)} to predict, "
        f"{raw.n_channels} channel(s) in {raw.folder}")
    return raw


def ct_geometry_of(dataset: Dataset, case_id: str):  # type: ignore[no-untyped-def]
    """The CT geometry of a case (the grid every written mask must copy)."""
    return read_geometry(dataset.case(case_id).image)
