import csv

import numpy as np
import pytest
import torch

from ichbench.baselines.augment import AugmentParams, AugmentSettings, apply_augment, epoch_plan
from ichbench.baselines.coarse import PRESETS, build_model
from ichbench.baselines.training import SliceSet, read_fold_result, train_fold


def _slices(ids, seed):
    rng = np.random.default_rng(seed)
    images = rng.random((len(ids), 4, 32, 32)).astype(np.float32)
    labels = np.zeros_like(images)
    labels[:, 1:3, 10:20, 12:22] = 1.0
    images[labels > 0] += 0.5
    images = np.clip(images, 0, 1)
    # two channels, as the cpu preset's two HU windows: the image and a narrower window of it
    narrow = np.clip((images - 0.3) * 2.0, 0, 1)
    return SliceSet(case_ids=tuple(ids), images=np.stack([images, narrow], axis=2),
                    labels=labels)


TRAIN, VAL = _slices(["001", "002"], 0), _slices(["003"], 1)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions: one thread is as fast and immune to a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _settings(epochs=4, patience=10):
    from dataclasses import replace

    smoke = PRESETS["cpu"]
    return replace(smoke, train=replace(smoke.train, epochs=epochs, patience=patience,
                                        patch_size=None),
                   grid_zyx=(4, 32, 32))


def _train(model, train, val, cfg, fold_dir, **kwargs):
    return train_fold(model, train, val, cfg.train, fold_dir, augment=cfg.augment, seed=7,
                      device="cpu", **kwargs)


class Killed(Exception):
    pass


def _resume_matches_straight_run(cfg, train, val, tmp_path, *, kill_after):
    """Train ``cfg`` straight through, then killed after epoch ``kill_after`` and resumed;
    the two final models must be bit-identical. Returns the straight run's folder."""
    straight = build_model(cfg, 7)
    _train(straight, train, val, cfg, tmp_path / "a", log=lambda s: None)

    def kill(epoch):
        if epoch == kill_after:
            raise Killed

    with pytest.raises(Killed):
        _train(build_model(cfg, 7), train, val, cfg, tmp_path / "b", log=lambda s: None,
               on_epoch_end=kill)
    resumed = build_model(cfg, 7)
    _train(resumed, train, val, cfg, tmp_path / "b", log=lambda s: None)
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        assert torch.equal(p, q), name
    return tmp_path / "a"


def test_apply_augment_flips_image_and_label_together_and_gamma_only_the_image():
    image = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    label = (image > 0.25).astype(np.float32)
    img, lab = apply_augment(image, label, AugmentParams(hflip=True, vflip=True, gamma=2.0))
    np.testing.assert_allclose(img, (image[::-1, ::-1]) ** 2)
    np.testing.assert_array_equal(lab, label[::-1, ::-1])


def test_epoch_plan_is_a_function_of_seed_and_epoch_only():
    s = AugmentSettings()
    a, pa = epoch_plan(3, 5, 20, s)
    b, pb = epoch_plan(3, 5, 20, s)
    c, _ = epoch_plan(3, 6, 20, s)
    assert a.tolist() == b.tolist() and pa == pb
    assert a.tolist() != c.tolist()
    gammas = [p.gamma for p in epoch_plan(0, 1, 2000, s)[1]]
    used = [g for g in gammas if g is not None]
    assert 0.75 < len(used) / 2000 < 0.85 and min(used) >= 0.8 and max(used) <= 1.2


def test_killed_and_resumed_training_gives_exactly_the_uninterrupted_weights(tmp_path):
    cfg = _settings(epochs=4)
    straight = build_model(cfg, 7)
    res_a = _train(straight, TRAIN, VAL, cfg, tmp_path / "a", log=lambda s: None)

    def kill_after_two(epoch):
        if epoch == 2:
            raise Killed

    first = build_model(cfg, 7)
    with pytest.raises(Killed):
        _train(first, TRAIN, VAL, cfg, tmp_path / "b", log=lambda s: None,
                   on_epoch_end=kill_after_two)
    assert read_fold_result(tmp_path / "b") is None
    lines = []
    resumed = build_model(cfg, 7)
    res_b = _train(resumed, TRAIN, VAL, cfg, tmp_path / "b", log=lines.append)
    assert any("resuming after epoch 2" in line for line in lines)
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        assert torch.equal(p, q), name
    a_ckpt = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b_ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    for p, q in zip(a_ckpt["model"].values(), b_ckpt["model"].values(), strict=True):
        assert torch.equal(p, q)
    assert (res_a.best_epoch, res_a.best_val_dc) == (res_b.best_epoch, res_b.best_val_dc)
    hist = [[r[k] for k in ("epoch", "train_loss", "val_loss", "val_dc")]
            for r in a_ckpt["history"]]
    assert hist == [[r[k] for k in ("epoch", "train_loss", "val_loss", "val_dc")]
                    for r in b_ckpt["history"]]


def test_fold_stops_after_patience_epochs_without_improvement_and_writes_its_files(
        tmp_path, monkeypatch):
    from ichbench.baselines import training

    monkeypatch.setattr(training, "_evaluate", lambda model, val, settings, device: (0.3, 0.5))
    cfg = _settings(epochs=30, patience=2)
    result = _train(build_model(cfg, 7), TRAIN, VAL, cfg, tmp_path, log=lambda s: None)
    assert (result.best_epoch, result.epochs_run, result.stopped_early) == (1, 3, True)
    with open(tmp_path / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "val_dc", "seconds"]
    assert len(rows) == 3
    assert (tmp_path / "learning_curve.png").stat().st_size > 0
    assert (tmp_path / "model.pt").exists() and read_fold_result(tmp_path) == result


def test_train_fold_refuses_a_case_in_both_training_and_validation(tmp_path):
    cfg = _settings(epochs=1)
    with pytest.raises(ValueError, match="both the training and the validation"):
        _train(build_model(cfg, 7), TRAIN, _slices(["002"], 3), cfg, tmp_path,
                   log=lambda s: None)


def test_epoch_plan_draws_the_requested_share_of_foreground_slices():
    s = AugmentSettings()
    foreground = np.zeros(100, dtype=bool)
    foreground[[3, 40, 77]] = True
    order, params = epoch_plan(1, 1, 100, s, foreground=foreground, samples=40,
                               foreground_fraction=0.5)
    assert len(order) == len(params) == 40
    assert order.min() >= 0 and order.max() < 100
    # 20 foreground draws, plus whatever the 20 uniform draws hit by chance
    assert 20 <= np.isin(order, [3, 40, 77]).sum() <= 23
    # each foreground slice is drawn nearly equally often (whole shuffled copies first)
    counts = [int((order == i).sum()) for i in (3, 40, 77)]
    assert min(counts) >= 6
    again, _ = epoch_plan(1, 1, 100, s, foreground=foreground, samples=40,
                          foreground_fraction=0.5)
    assert order.tolist() == again.tolist()


def test_epoch_plan_without_foreground_slices_samples_uniformly():
    order, _ = epoch_plan(0, 2, 30, AugmentSettings(), foreground=np.zeros(30, dtype=bool),
                          samples=45, foreground_fraction=0.5)
    assert len(order) == 45 and np.bincount(order, minlength=30).min() >= 1


def test_slice_set_flags_slices_with_a_majority_label_voxel():
    flags = TRAIN.foreground_slices()
    assert flags.tolist() == [False, True, True, False] * 2


def test_soft_dice_loss_is_zero_for_a_perfect_confident_prediction_and_one_for_disjoint():
    from ichbench.baselines.training import soft_dice_loss

    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:5, 2:5] = 1
    perfect = (target * 2 - 1) * 50
    assert float(soft_dice_loss(perfect, target)) < 1e-3
    disjoint = -perfect
    assert float(soft_dice_loss(disjoint, target)) > 0.9


def test_foreground_sampling_and_dice_term_train_and_resume_bit_identically(tmp_path):
    from dataclasses import replace

    base = _settings(epochs=3)
    cfg = replace(base, train=replace(base.train, samples_per_epoch=6, foreground_fraction=0.5,
                                      dice_weight=1.0))
    _resume_matches_straight_run(cfg, TRAIN, VAL, tmp_path, kill_after=1)


@pytest.mark.gpu
def test_amp_and_pinned_batches_apply_on_cuda_only():
    import contextlib

    from ichbench.baselines.amp import autocast, to_device

    assert isinstance(autocast("cpu"), contextlib.nullcontext)
    batch = to_device(np.zeros((2, 1, 4, 4), dtype=np.float32)[:, :, ::-1], "cpu")
    assert batch.device.type == "cpu" and batch.is_contiguous() and not batch.is_pinned()
    if torch.cuda.is_available():  # the GPU path, where there is one
        assert isinstance(autocast("cuda"), torch.autocast)
        assert to_device(np.zeros((1, 1, 2, 2), np.float32), "cuda").device.type == "cuda"


def test_crop_slice_on_a_foreground_draw_holds_an_ich_pixel_anywhere_in_the_patch():
    from ichbench.baselines.augment import crop_slice

    image = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    label = np.zeros((64, 64), np.float32)
    label[50, 5] = label[10, 60] = 1.0
    seen = set()
    for u in np.linspace(0, 0.999, 7):
        for pick in (0.1, 0.9):
            params = AugmentParams(False, False, None, crop=(pick, u, u), on_foreground=True)
            img, lab = crop_slice(image, label, params, 32)
            assert img.shape == lab.shape == (32, 32)
            assert lab.max() == 1.0
            # the image patch is the same window as the label patch
            top, left = divmod(int(img[0, 0]), 64)
            assert np.array_equal(lab, label[top:top + 32, left:left + 32])
            seen.add((top, left))
    assert len(seen) > 4


def test_crop_slice_elsewhere_is_uniform_and_reaches_both_edges():
    from ichbench.baselines.augment import crop_slice

    image = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    label = np.zeros((64, 64), np.float32)
    label[0, 0] = 1.0  # not a foreground draw: ignored
    corners = []
    for u in (0.0, 0.9999):
        img, _ = crop_slice(image, label, AugmentParams(False, False, None, crop=(0.0, u, u)), 32)
        corners.append(divmod(int(img[0, 0]), 64))
    assert corners == [(0, 0), (32, 32)]
    with pytest.raises(ValueError, match="larger than the slice"):
        crop_slice(image, label, AugmentParams(False, False, None), 96)


def test_epoch_plan_flags_foreground_draws_and_crops_do_not_change_order_or_flips():
    s = AugmentSettings()
    foreground = np.zeros(50, dtype=bool)
    foreground[[4, 9]] = True
    order, params = epoch_plan(2, 3, 50, s, foreground=foreground, samples=20,
                               foreground_fraction=0.25)
    flagged = [p.on_foreground for p in params]
    assert sum(flagged) == 5
    assert all(order[i] in (4, 9) for i, f in enumerate(flagged) if f)
    crops = {p.crop for p in params}
    assert len(crops) == 20 and all(0 <= c < 1 for crop in crops for c in crop)
    paper_order, paper_params = epoch_plan(2, 3, 50, s)
    assert not any(p.on_foreground for p in paper_params)
    assert sorted(paper_order.tolist()) == list(range(50))


def test_poly_schedule_decays_per_epoch_and_constant_keeps_the_rate():
    from dataclasses import replace

    from ichbench.baselines.training import TrainSettings, epoch_lr

    poly = TrainSettings(epochs=10, lr=1e-3, lr_schedule="poly")
    assert epoch_lr(poly, 1) == pytest.approx(1e-3)
    assert epoch_lr(poly, 6) == pytest.approx(1e-3 * 0.5 ** 0.9)
    assert epoch_lr(poly, 10) == pytest.approx(1e-3 * 0.1 ** 0.9)
    assert epoch_lr(replace(poly, lr_schedule="constant"), 10) == 1e-3
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainSettings(lr_schedule="cosine")


def test_patch_training_with_poly_decay_learns_on_patches_and_resumes_bit_identically(tmp_path):
    from dataclasses import replace

    base = _settings(epochs=3)
    cfg = replace(base, train=replace(base.train, samples_per_epoch=6, foreground_fraction=0.5,
                                      patch_size=32, lr_schedule="poly"),
                  grid_zyx=(4, 64, 64))

    def padded(slices):  # 64 × 64 slices, so that a 32-pixel patch is a real crop
        pad = ((0, 0), (0, 0), (0, 32), (0, 32))
        channels = (*pad[:2], (0, 0), *pad[2:])
        return SliceSet(slices.case_ids, np.pad(slices.images, channels),
                        np.pad(slices.labels, pad))

    straight = _resume_matches_straight_run(cfg, padded(TRAIN), padded(VAL), tmp_path,
                                            kill_after=2)
    ckpt = torch.load(straight / "checkpoint.pt", weights_only=False)
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(
        cfg.train.lr * (1 / 3) ** 0.9)


def test_coarse_config_refuses_a_patch_the_network_cannot_take():
    from dataclasses import replace

    base = PRESETS["cpu"]
    with pytest.raises(ValueError, match="patch_size=48: expected a multiple of 32"):
        replace(base, train=replace(base.train, patch_size=48))
    with pytest.raises(ValueError, match="no larger than"):
        replace(base, train=replace(base.train, patch_size=256))


def test_training_batches_and_the_model_are_channels_last():
    """Channels-last is what makes a CPU step 14 % faster (mkldnn) and feeds cuDNN's fast
    path; a plain NCHW batch silently loses it."""
    from ichbench.baselines.amp import to_device
    from ichbench.baselines.training import predict_volume

    batch = to_device(np.zeros((2, 1, 32, 32), np.float32), "cpu")
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert to_device(np.zeros((2, 32, 32), np.float32), "cpu").is_contiguous()
    model = build_model(_settings(), 7)
    predict_volume(model, np.zeros((3, 2, 32, 32), np.float32), device="cpu")
    conv = next(m for m in model.modules()
                if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1 and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_a_one_channel_slice_set_and_volume_read_as_one_window():
    """(case, z, y, x) images are one channel: a paper-preset (1-window) model trains and
    predicts on them as before the second window existed."""
    from dataclasses import replace

    from ichbench.baselines.training import predict_volume

    one = SliceSet(TRAIN.case_ids, TRAIN.images[:, :, 0], TRAIN.labels)
    assert one.images.shape == (*TRAIN.images.shape[:2], 1, *TRAIN.images.shape[3:])
    image, label = one.slice(5)
    assert image.shape == (1, 32, 32) and label.shape == (32, 32)
    assert np.array_equal(image[0], TRAIN.images[1, 1, 0])
    base = _settings()
    model = build_model(replace(base, hu_windows=((-100.0, 200.0),),
                                model=replace(base.model, in_channels=1)), 7)
    prob = predict_volume(model, one.images[0, :, 0], device="cpu")
    assert prob.shape == (4, 32, 32)
    assert np.array_equal(prob, predict_volume(model, one.images[0], device="cpu"))


def test_slice_set_refuses_images_that_do_not_match_the_labels():
    with pytest.raises(ValueError, match=r"images \(2, 4, 2, 32, 30\) do not match labels"):
        SliceSet(TRAIN.case_ids, TRAIN.images[..., :30], TRAIN.labels)


def test_augment_flips_every_channel_with_the_label_and_gammas_each():
    image = np.random.default_rng(0).random((2, 6, 5)).astype(np.float32)
    label = (image[0] > 0.5).astype(np.float32)
    img, lab = apply_augment(image, label, AugmentParams(hflip=True, vflip=True, gamma=2.0))
    assert np.allclose(img, image[:, ::-1, ::-1] ** 2) and np.array_equal(lab, label[::-1, ::-1])


def test_a_patch_crops_every_channel_at_the_same_place():
    from ichbench.baselines.augment import crop_slice

    image = np.random.default_rng(0).random((2, 64, 64)).astype(np.float32)
    label = np.zeros((64, 64), np.float32)
    label[40, 50] = 1.0
    img, lab = crop_slice(image, label, AugmentParams(False, False, None, crop=(0.0, 0.3, 0.6),
                                                      on_foreground=True), 32)
    assert img.shape == (2, 32, 32) and lab.sum() == 1
    row, col = np.argwhere(lab)[0]
    top, left = 40 - row, 50 - col
    assert np.array_equal(img, image[:, top:top + 32, left:left + 32])
