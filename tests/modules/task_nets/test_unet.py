import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.modules.task_nets import TaskNN, UNetTaskNN


@pytest.mark.parametrize("height,width", [(32, 32), (16, 17), (7, 5), (1, 1)])
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_logits_and_features_have_the_image_size(height, width, depth):
    torch.manual_seed(0)
    net = UNetTaskNN(channels=4, depth=depth)
    output = net(image=torch.rand(2, 3, height, width))
    assert output.logits.shape == (2, height, width) and output.mask is None
    assert output.features.shape == (2, 4, height, width) == (2, net.get_feature_dim(), height, width)
    assert torch.isfinite(output.logits).all()


def test_from_params_and_feature_choices():
    net = TaskNN.from_params(Params({"type": "unet", "channels": 3, "depth": 1, "batch_norm": False,
                                     "dropout": 0.2, "features": "image+decoder"}))
    assert isinstance(net, UNetTaskNN)
    image = torch.rand(2, 3, 6, 9)
    features = net(image=image).features
    assert features.shape == (2, 6, 6, 9) and net.get_feature_dim() == 6
    torch.testing.assert_close(features[:, :3], image)  # the image first, as is
    only_image = UNetTaskNN(channels=3, features="image")
    assert only_image(image=image).features is image and only_image.get_feature_dim() == 3


def test_every_parameter_gets_a_gradient_and_extra_inputs_are_ignored():
    torch.manual_seed(0)
    net = UNetTaskNN(channels=2, depth=2)
    net(image=torch.rand(3, 3, 9, 10), labels=None, metadata=[{}]).logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_output_at_a_pixel_depends_on_its_neighbourhood_only_through_convolutions():
    """Fully convolutional: in eval mode the net is translation-equivariant away from the borders
    (checked with a depth-0 net, whose receptive field is 5x5)."""
    torch.manual_seed(0)
    net = UNetTaskNN(channels=3, depth=0).eval()
    image = torch.rand(1, 3, 12, 12)
    shifted = torch.roll(image, shifts=(1, 2), dims=(2, 3))
    logits, shifted_logits = net(image=image).logits, net(image=shifted).logits
    torch.testing.assert_close(shifted_logits[:, 4:9, 5:10], logits[:, 3:8, 3:8])


def test_bad_configuration_and_inputs_are_errors():
    with pytest.raises(ConfigurationError, match="features"):
        UNetTaskNN(features="encoder")
    with pytest.raises(ConfigurationError, match="depth"):
        UNetTaskNN(depth=-1)
    with pytest.raises(ConfigurationError, match="dropout"):
        UNetTaskNN(dropout=1.0)
    with pytest.raises(ConfigurationError, match=r"\(batch, 3, height, width\)"):
        UNetTaskNN()(image=torch.rand(2, 8, 8, 3))  # channels last
