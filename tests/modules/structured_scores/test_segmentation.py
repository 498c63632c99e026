import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from seal.modules.score_nets import ScoreNN
from seal.modules.structured_scores import MaskConvScore, StructuredScore
from seal.modules.task_nets import UNetTaskNN


def small_score(feature_dim=None, **kwargs):
    return MaskConvScore(feature_dim, channels=[4, 5], kernel_size=3, pool_size=2, hidden_dims=[6], **kwargs)


def test_registered_and_built_from_params():
    score = StructuredScore.from_params(Params({"type": "mask-conv", "feature_dim": 3, "channels": [8, 8, 8]}))
    assert isinstance(score, MaskConvScore)
    assert [c.stride[0] for c in score.convolutions] == [1, 2, 2]  # DVN's strides by default
    assert score.convolutions[0].in_channels == 4  # the image's 3 channels and the mask


@pytest.mark.parametrize("height,width", [(32, 32), (7, 5), (2, 2), (1, 1)])
def test_one_score_per_sample_of_any_size(height, width):
    torch.manual_seed(0)
    score = small_score(feature_dim=3)
    y, features = torch.rand(2, 4, height, width), torch.rand(2, 3, height, width)
    scores = score(y, None, features)
    assert scores.shape == (2, 4) and torch.isfinite(scores).all()
    # each sample is scored alone: scoring it apart gives the same number
    torch.testing.assert_close(score(y[1:, 2:3], None, features[1:]), scores[1:, 2:3])


def test_gradient_in_the_relaxed_mask_and_features_matches_finite_differences():
    """`gradcheck` compares the analytical Jacobian with central finite differences, in float64."""
    torch.manual_seed(0)
    score = small_score(feature_dim=2).double()
    y = torch.rand(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    features = torch.rand(2, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y, f: score(y, None, f), (y, features))
    unconditioned = small_score().double()
    assert torch.autograd.gradcheck(lambda y: unconditioned(y), (y,))


def test_the_score_depends_on_the_image():
    torch.manual_seed(0)
    score = small_score(feature_dim=3)
    y = torch.rand(1, 2, 6, 6)
    assert not torch.allclose(score(y, None, torch.zeros(1, 3, 6, 6)), score(y, None, torch.ones(1, 3, 6, 6)))


def test_bad_inputs_are_errors():
    score = small_score(feature_dim=3)
    with pytest.raises(ConfigurationError, match="num_samples, height, width"):
        score(torch.rand(2, 16), None, None)
    with pytest.raises(ConfigurationError, match="features of shape"):
        score(torch.rand(2, 1, 4, 4), None, None)
    with pytest.raises(ConfigurationError, match="features of shape"):
        score(torch.rand(2, 1, 4, 4), None, torch.rand(2, 3, 4, 5))
    with pytest.raises(ConfigurationError, match="padding"):
        score(torch.rand(2, 1, 4, 4), torch.ones(2, 4, dtype=torch.bool), torch.rand(2, 3, 4, 4))
    with pytest.raises(ConfigurationError, match="stride"):
        MaskConvScore(channels=[4, 4], strides=[1])
    with pytest.raises(ConfigurationError, match="odd kernel_size"):
        MaskConvScore(kernel_size=4)


def test_score_nn_adds_the_unets_per_pixel_local_score():
    """ScoreNN with a U-Net feature network on masks: `<logits, y>` summed over pixels plus the
    convolutional score of the mask and the image."""
    torch.manual_seed(0)
    unet = UNetTaskNN(channels=2, depth=1, features="image")
    global_score = small_score(feature_dim=3)
    score_nn = ScoreNN(unet, global_score).eval()
    image, y = torch.rand(2, 3, 6, 5), torch.rand(2, 3, 6, 5)
    scores = score_nn({"image": image}, y)
    logits = unet(image=image).logits
    expected = (logits.unsqueeze(1) * y).sum((2, 3)) + global_score(y, None, image)
    torch.testing.assert_close(scores, expected)
