"""Architecture calculators against the worked answers in the course material (seeds)."""

import io

import numpy as np
import pytest

from i2dl_lab import architecture as arch
from i2dl_lab import nn

# Problem 3.3 of the homework solutions: CONV5-N = N filters 5x5xD, pad 2, stride 1; POOL2 = 2x2
# max pool stride 2; input 32x32x1. The seed's table (activation volume, parameters):
SEED_33_TABLE = [
    ("32x32x1", "0"),
    ("32x32x10", "10x1x5x5 + 10"),
    ("16x16x10", "0"),
    ("16x16x10", "10x10x5x5 + 10"),
    ("8x8x10", "0"),
    ("10", "8x8x10x10 + 10"),
]


def test_seed_problem_3_3_table_from_shorthand():
    rows = arch.layer_stats("CONV5-10 POOL2 CONV5-10 POOL2 FC-10", input_shape=(1, 32, 32))
    assert [(r.hwc, r.params_formula) for r in rows] == SEED_33_TABLE
    # the formulas evaluate to the counts
    assert [r.params for r in rows] == [0, 10 * 1 * 5 * 5 + 10, 0, 10 * 10 * 5 * 5 + 10, 0, 8 * 8 * 10 * 10 + 10]


def test_seed_problem_3_3_table_from_real_modules():
    model = nn.Sequential(
        nn.Conv2d(1, 10, 5, padding=2, seed=0),
        nn.MaxPool2d(2),
        nn.Conv2d(10, 10, 5, padding=2, seed=1),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 8 * 10, 10, seed=2),
    )
    rows = arch.layer_stats(model, (1, 32, 32))
    hwc = [r.hwc for r in rows]
    assert hwc == ["32x32x1", "32x32x10", "16x16x10", "16x16x10", "8x8x10", "640", "10"]
    assert [r.params for r in rows] == [0, 260, 0, 2510, 0, 0, 6410]
    assert sum(r.params for r in rows) == model.num_parameters()
    assert rows[1].params_formula == "10x1x5x5 + 10"


def test_seed_output_size_worked_steps():
    # W_out = (32 - 5 + 2*2)/1 + 1 = 32 and (16 - 5 + 2*2)/1 + 1 = 16
    assert arch.conv_output_size(32, 5, 1, 2) == 32
    assert arch.conv_output_size(16, 5, 1, 2) == 16
    assert arch.conv_output_size(32, 2, 2, 0, exact=False) == 16


# VGG: the midterm review's solution lists (block: 3 channels of size^2 x depth) for every column,
# then f: (7^2, 512) after the last pool and the fully connected layers (4096, 4096, 1000 in the
# table).
SEED_VGG_BLOCKS = [(224, 64), (112, 128), (56, 256), (28, 512), (14, 512)]


@pytest.mark.parametrize("config", ["A", "A-LRN", "B", "C", "D", "E"])
def test_seed_vgg_block_sizes_are_the_same_for_every_column(config):
    rows = arch.layer_stats(arch.vgg_layers(config), (3, 224, 224))
    convs = [r for r in rows if r.name.upper().startswith("C")]
    pools = [r for r in rows if r.name == "M"]
    assert len(pools) == 5
    # every conv keeps the spatial size of its block; depth is the block's filter count
    blocks, i = [], 0
    for r in rows[1:]:
        if r.name == "M":
            i += 1
        elif r.name.upper().startswith("C"):
            blocks.append((i, r.output_shape))
    for b, (size, depth) in enumerate(SEED_VGG_BLOCKS):
        assert {shape for blk, shape in blocks if blk == b} == {(depth, size, size)}
    assert pools[-1].output_shape == (512, 7, 7)
    assert [r.output_shape for r in rows[-4:-1]] == [(4096,), (4096,), (1000,)]
    n_weight_layers = len(convs) + 3
    assert n_weight_layers == {"A": 11, "A-LRN": 11, "B": 13, "C": 16, "D": 16, "E": 19}[config]


def test_vgg16_configuration_d_activation_sizes_and_parameters():
    rows = arch.layer_stats(arch.vgg_layers("D"), (3, 224, 224))
    expected_hwc = (
        ["224x224x3"]
        + ["224x224x64"] * 2 + ["112x112x64"]
        + ["112x112x128"] * 2 + ["56x56x128"]
        + ["56x56x256"] * 3 + ["28x28x256"]
        + ["28x28x512"] * 3 + ["14x14x512"]
        + ["14x14x512"] * 3 + ["7x7x512"]
        + ["4096", "4096", "1000", "1000"]
    )  # fmt: skip
    assert [r.hwc for r in rows] == expected_hwc
    # 13 convs with 3x3 kernels and three FC layers: the published VGG-16 count
    assert sum(r.params for r in rows) == 138_357_544
    assert rows[1].params == 64 * 3 * 3 * 3 + 64
    assert rows[-4].params == 7 * 7 * 512 * 4096 + 4096
    assert rows[1].memory == 224 * 224 * 64 * 4  # float32 bytes per image


def test_seed_receptive_field_of_5x5_then_3x3_stride_1():
    # the lecture's worked answer: n = 3 at the 3x3 layer, then n = 5 + 1*(3 - 1) = 7
    assert arch.receptive_field([(5, 1), (3, 1)]) == 7
    assert arch.receptive_field("CONV5-1 CONV3-1") == 7
    model = nn.Sequential(nn.Conv2d(1, 1, 5, seed=0), nn.ReLU(), nn.Conv2d(1, 1, 3, seed=1))
    assert arch.receptive_field(model) == 7
    rows = arch.layer_stats(model, (1, 9, 9))
    assert [r.receptive_field for r in rows] == [1, 5, 5, 7]


def test_receptive_field_with_strides_follows_the_recursion():
    # k=5, s=2 over m=3 outputs sees 5 + 2*(3-1) = 9 inputs (the lecture's example)
    assert arch.receptive_field([(3, 1), (5, 2)]) == 3 + 1 * (5 - 1)
    assert arch.receptive_field([(5, 2), (3, 1)]) == 5 + 2 * (3 - 1)
    assert arch.receptive_field([(3, 1)] * 3) == 7  # three 3x3 layers = one 7x7 (VGG's argument)
    assert arch.receptive_field("CONV3-8 POOL2 FC-10") is None
    with pytest.raises(ValueError, match="kernel and stride must be >= 1"):
        arch.receptive_field([(0, 1)])


def test_seed_7x7_image_with_3x3_filter_gives_5x5():
    assert arch.conv_output_size(7, 3, 1, 0) == 5


def test_summary_prints_every_layer_and_totals():
    buf = io.StringIO()
    rows = arch.summary("CONV5-10 POOL2 CONV5-10 POOL2 FC-10", (1, 32, 32), batch_size=2, file=buf)
    text = buf.getvalue()
    for hwc, formula in SEED_33_TABLE:
        assert hwc in text and formula in text
    assert "total parameters: 9,180" in text
    total_values = sum(r.activations for r in rows)
    assert f"total activations: {total_values:,}" in text
    assert text.count("\n") >= len(rows) + 4


def test_summary_of_modules_keeps_training_mode_and_running_stats():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, seed=0), nn.BatchNorm2d(2), nn.ReLU())
    model.train()
    arch.summary(model, (1, 4, 4), file=io.StringIO())
    assert model.training and model[1].training
    np.testing.assert_array_equal(model[1].running_mean, 0.0)


def test_module_summary_memory_uses_the_model_dtype():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=0, dtype=np.float32), nn.ReLU())
    rows = arch.layer_stats(model, (1, 8, 8))
    assert [r.memory for r in rows] == [8 * 8 * 4, 4 * 8 * 8 * 4, 4 * 8 * 8 * 4]
    rows = arch.layer_stats(model, (1, 8, 8), bytes_per_value=2)
    assert rows[1].memory == 4 * 8 * 8 * 2


def test_calculators_formulas():
    assert arch.conv_params(3, 64, 3) == 1792
    assert arch.conv_params(3, 64, (3, 3), bias=False) == 1728
    assert arch.fc_params(4096, 1000) == 4_097_000
    assert arch.activation_memory((64, 224, 224), bytes_per_value=4, batch_size=2) == 2 * 4 * 64 * 224 * 224


def test_bad_architectures_raise_with_the_formula():
    with pytest.raises(ValueError, match=r"stride 2 does not tile.*\(7 \+ 2\*0 - 2\) / 2 \+ 1 = 3\.5"):
        arch.layer_stats("CONV2-4/s2/p0", (1, 7, 7))
    with pytest.raises(ValueError, match="kernel height 9 is larger than the padded input height 4"):
        arch.layer_stats("CONV9-4/s1/p0", (1, 4, 4))
    with pytest.raises(ValueError, match="needs a \\(C, H, W\\) volume"):
        arch.layer_stats("FC-10 CONV3-4", (1, 8, 8))
    with pytest.raises(ValueError, match="unknown layer spec 'CONVX'"):
        arch.parse_layers("CONVX")
    with pytest.raises(ValueError, match="C=3 channels"):
        arch.layer_stats(nn.Sequential(nn.Conv2d(1, 2, 3, seed=0)), (3, 8, 8))
    with pytest.raises(ValueError, match="unknown VGG configuration"):
        arch.vgg_layers("F")


def test_shorthand_parsing():
    assert arch.parse_layer("conv3-16/s2/p0") == arch.ConvLayer(16, 3, 2, 0, "conv3-16/s2/p0")
    assert arch.parse_layer("C1D256").kernel == 1 and arch.parse_layer("C1D256").pad == 0
    assert arch.parse_layer("M") == arch.PoolLayer(2, 2, "max", "M")
    assert arch.parse_layer("AVGPOOL3/s1").kind == "avg"
    assert arch.parse_layer("FC4096").out_features == 4096
    rows = arch.layer_stats("CONV3-4 BN RELU LRN", (2, 5, 5))
    assert [r.params for r in rows] == [0, 4 * 2 * 9 + 4, 8, 0, 0]


# ----------------------------------------------------------------------------- more exam answers
# Lecture slides and past exams in the seeds: (input H=W, kernel, stride, pad) -> output H=W.
@pytest.mark.parametrize(
    "size, kernel, stride, pad, expected",
    [
        (32, 5, 1, 2, 32),  # slides: 32x32x3, 10 filters 5x5, stride 1, pad 2 -> 32x32x10
        (26, 7, 3, 1, 8),  # exam: floor((26 - 7 + 2*1) / 3) + 1 = 8 -> 8x8x5
        (28, 5, 3, 2, 10),  # exam 2.6: (28 + 2*2 - 5) / 3 + 1 = 10 -> 6x10x10
        (32, 6, 2, 1, 15),  # optional exam question: 8 filters 6x6, stride 2, pad 1 on 32x32x32
        (64, 4, 2, 1, 32),  # Cityscapes exam: conv1 gives 50x32x32
    ],
)
def test_seed_exam_output_sizes(size, kernel, stride, pad, expected):
    assert arch.conv_output_size(size, kernel, stride, pad) == expected


def test_seed_exam_parameter_counts():
    assert arch.conv_params(3, 10, 5) == 760  # "each filter has 5x5x3 + 1 = 76 params -> 760"
    assert arch.conv_params(3, 5, 4) == 245  # exam 2.7: 3x(4x4)x5 + 5
    assert nn.Conv2d(3, 4, 5, seed=0).W.shape == (4, 3, 5, 5)  # "4 filters, kernel 5, RGB": (4, 3, 5, 5)


def test_seed_exam_problem_4_network_on_80x80_rgb():
    def block(cin, cout, seed):
        return [nn.Conv2d(cin, cout, 3, padding=1, seed=seed), nn.MaxPool2d(2), nn.BatchNorm2d(cout), nn.ReLU()]

    layers = [*block(3, 8, 0), *block(8, 16, 1), *block(16, 32, 2), nn.Flatten(), nn.Linear(3200, 4, seed=3)]
    model = nn.Sequential(*layers)
    rows = arch.layer_stats(model, (3, 80, 80))
    assert rows[-2].output_shape == (3200,)  # 4.2: x = 10 x 10 x 32 = 3200
    assert rows[1].params == 224  # 4.4: 3x3x3x8 + 8
    assert sum(r.params for r in rows if "BatchNorm" in r.name) == 112  # 4.5: 2*(8 + 16 + 32)
    assert rows[-1].params == 4 * 3200 + 4  # 4.1: 4x + 4


def test_seed_exam_receptive_fields():
    assert arch.receptive_field([(3, 1)] * 3) == 7  # "1x1 -> 3x3 -> 5x5 -> 7x7"
    # Cityscapes exam 3.2: conv 4x4 stride 2, then 2x2 max pool: one pixel sees 6x6
    assert arch.receptive_field("CONV4-50/s2/p1 POOL2") == 6
    rows = arch.layer_stats("CONV4-50/s2/p1 POOL2", (3, 64, 64))
    assert [r.output_shape for r in rows[1:]] == [(50, 32, 32), (50, 16, 16)]
