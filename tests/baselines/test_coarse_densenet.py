import pytest
import torch

from ichbench.baselines.coarse import PRESETS, build_model
from ichbench.baselines.densenet import DenseNet2D, DenseNetConfig, count_parameters

#: Parameter count of the paper configuration (5 blocks × 6 layers, k = 32, 4k bottleneck,
#: stem 64, compression 0.5, decoder 256-128-64-32-32). Pinned from DenseNetConfig();
#: the encoder part is also checked against the formula below.
PAPER_PARAMETERS = 5_552_305


def _encoder_parameters_by_formula(cfg: DenseNetConfig) -> int:
    k, width = cfg.growth_rate, cfg.bn_size * cfg.growth_rate
    c = cfg.init_features
    total = cfg.in_channels * c * 9 + 2 * c  # stem conv + BN
    for n_layers in cfg.block_layers:
        for _ in range(n_layers):
            total += 2 * c + c * width + 2 * width + width * k * 9  # BN, 1x1, BN, 3x3
            c += k
        reduced = int(c * cfg.compression)
        total += 2 * c + c * reduced  # transition BN + 1x1 conv
        c = reduced
    return total


def test_paper_densenet_parameter_count_is_pinned():
    model = DenseNet2D(DenseNetConfig())
    assert count_parameters(model) == PAPER_PARAMETERS


def test_paper_densenet_encoder_parameters_match_the_dense_block_formula():
    cfg = DenseNetConfig()
    model = DenseNet2D(cfg)
    encoder = sum(p.numel() for part in (model.stem, model.blocks, model.transitions)
                  for p in part.parameters())
    assert encoder == _encoder_parameters_by_formula(cfg)


def test_paper_densenet_has_five_blocks_of_six_dense_layers_and_full_resolution_output():
    model = DenseNet2D(DenseNetConfig())
    assert [len(b) for b in model.blocks] == [6] * 5
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 1, 64, 64))
    assert out.shape == (1, 1, 64, 64)


def test_densenet_rejects_input_not_divisible_by_32():
    model = DenseNet2D(_smoke_arch())
    with pytest.raises(ValueError, match="divisible by 32"):
        model(torch.zeros(1, _smoke_arch().in_channels, 48, 40))


def _smoke_arch() -> DenseNetConfig:
    smoke = PRESETS["cpu"]
    return smoke.model


def test_one_adam_step_on_a_tiny_batch_decreases_the_bce_loss():
    model = build_model(PRESETS["cpu"], seed=0)
    x = torch.rand(2, PRESETS["cpu"].model.in_channels, 32, 32,
                   generator=torch.Generator().manual_seed(1))
    y = torch.zeros(2, 1, 32, 32)
    y[:, :, 8:20, 10:22] = 1.0
    opt = torch.optim.Adam(model.parameters(), lr=4e-4)
    model.train()
    loss0 = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    with torch.no_grad():
        loss1 = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
    assert float(loss1) < float(loss0.detach())


def test_model_initialisation_is_seeded():
    a, b = build_model(PRESETS["cpu"], seed=3), build_model(PRESETS["cpu"], seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                   b.state_dict().values(), strict=True))
