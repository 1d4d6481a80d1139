"""The tag networks: Dieleman's 1-D CNN and the short-chunk 2-D CNN, checked before training."""

import dataclasses

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from krotos.model import network  # noqa: E402
from krotos.model.params import DIELEMAN, TagModelParams  # noqa: E402

SHORT = TagModelParams(architecture="shortchunk", filters=(4, 8, 8), kernel_size=3,
                       pool_sizes=(2, 2, 2), dense_units=(8,), dropout=0.5, batch_norm=False)


def net(base=DIELEMAN, **sizes):
    """``base`` (Dieleman's network) with ``sizes`` changed."""
    return dataclasses.replace(base, **sizes)


def test_shortchunk_is_a_2d_3x3_cnn_that_pools_time_and_frequency(tmp_path):
    model = network.build_tag_model(16, 40, 3, SHORT)
    conv = model.get_layer("conv1")
    assert isinstance(conv, keras.layers.Conv2D) and conv.kernel_size == (3, 3)
    assert "conv1_bn" in [layer.name for layer in model.layers]   # always batch-normalized
    assert model.get_layer("pool3").output.shape[1:] == (5, 2, 8)  # (time, freq, channels)
    assert model.get_layer("freq_pool").output.shape[1:] == (5, 8)
    assert model.get_layer("global_pool").output.shape[-1] == 3 * 8
    assert model.get_layer("embedding").output.shape[-1] == 8
    x = np.random.default_rng(0).normal(-40, 5, (2, 40, 16)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(network.load_model(tmp_path / "m.keras")(x).numpy(),
                               model(x).numpy(), rtol=1e-5)


def test_residual_blocks_project_the_shortcut_when_channels_change():
    model = network.build_tag_model(16, 40, 3, net(SHORT, residual=True))
    names = [layer.name for layer in model.layers]
    assert {"conv1a", "conv1b", "conv1_skip", "conv1_add", "conv2_skip"} <= set(names)
    assert "conv3_skip" not in names                                # 8 -> 8: identity
    assert {"conv1a", "conv1_skip_bn"} <= set(network.conv_layer_names(model))
    plain = network.build_tag_model(16, 40, 3, SHORT)
    assert network.count_parameters(model) > network.count_parameters(plain)


def test_pool_sizes_may_differ_in_time_and_frequency():
    assert network.parse_pool(2) == (2, 2)
    assert network.parse_pool("2x1") == (2, 1)
    model = network.build_tag_model(16, 40, 3, net(SHORT, pool_sizes=(2, 2, "1x2")))
    assert model.get_layer("pool3").output.shape[1:3] == (10, 2)
    with pytest.raises(ValueError, match="TIMExFREQ"):
        network.parse_pool("2by2")


def test_receptive_field_of_convolutions_and_poolings():
    # Dieleman's demo network: kernel 4, pools 4, 2, 2 -> 103 frames (2.4 s).
    assert network.check_tag_model(128, 129, net(filters=(32, 32, 64, 64), kernel_size=4,
                                                 pool_sizes=(4, 2, 2))) == 103
    assert network.receptive_field([("conv", 3), ("pool", 2), ("conv", 3)]) == 8


def test_a_receptive_field_longer_than_the_window_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"receptive field of the dieleman network \(103 frames "
                                         r"\(2\.39 s\)\) is longer than the window \(90 frames "
                                         r"\(2\.09 s\)\)"):
        network.check_tag_model(128, 90, net(filters=(32, 32, 64, 64), kernel_size=4,
                                             pool_sizes=(4, 2, 2)), frame_rate=22050 / 512)
    with pytest.raises(ValueError, match=r"shortchunk network \(94 frames\) is longer than the "
                                         r"window \(64 frames\)"):
        network.build_tag_model(128, 64, 3, net(architecture="shortchunk", filters=(4,) * 5,
                                                kernel_size=3, pool_sizes=(2,) * 5))


def test_too_many_poolings_for_n_mels_are_refused_before_training():
    with pytest.raises(ValueError, match=r"does not fit n_mels=16: its 5 poolings divide the "
                                         r"frequency axis by 32 .* at least 32 mel bands"):
        network.build_tag_model(16, 400, 3, net(architecture="shortchunk", filters=(4,) * 5,
                                                kernel_size=3, pool_sizes=(2,) * 5))
    with pytest.raises(ValueError, match="needs len\\(filters\\) = 2 values, got 1"):
        network.check_tag_model(16, 40, net(architecture="shortchunk", filters=(4, 4),
                                            kernel_size=3, pool_sizes=(2,)))
    with pytest.raises(ValueError, match="unknown architecture 'vgg'"):
        network.check_tag_model(16, 40, net(architecture="vgg"))
    with pytest.raises(ValueError, match="residual blocks exist only in the shortchunk"):
        network.build_tag_model(16, 40, 3, net(filters=(4, 4), pool_sizes=(2,), residual=True))
