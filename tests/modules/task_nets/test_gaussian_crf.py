import logging

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules import FeedForward
from allennlp.nn import Activation

from seal.modules.output_spaces import SequenceTagsOutputSpace
from seal.modules.task_nets import GaussianCRFTaskNN, TaskNN
from seal.nn import linear_solvers
from tests.modules.stubs import FixedTaskNN

F, D = 5, 3


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(linear_solvers, "_WARNED", set())


def image_unary(batch=2, height=3, width=4, seed=0):
    """A fake segmentation net: logits `(B, H, W)`, a feature map `(B, F, H, W)`, no mask."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, height, width, generator=generator)
    return FixedTaskNN(logits, torch.randn(batch, F, height, width, generator=generator))


def tagger_unary(seed=0):
    """A fake tagger: logits `(B, T, C)`, features `(B, T, F)`, a mask with padding."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    return FixedTaskNN(torch.randn(2, 4, 3, generator=generator), torch.randn(2, 4, F, generator=generator), mask)


def tagger_crf(**kwargs):
    return GaussianCRFTaskNN(tagger_unary(), feature_dim=F, embedding_dim=D, classes_last=True, channels_first=False,
                             tolerance=1e-10, **kwargs)


def reference(task_nn, features, mask):
    """`s*` by a dense solve, differentiable by ordinary autograd: features `(B, P, F)`, mask `(B, P)`."""
    logits = task_nn.unary.logits
    unary = logits.reshape(features.size(0), features.size(1), -1)
    embeddings = torch.nn.functional.normalize(task_nn.embedding(features), dim=-1) * mask.unsqueeze(-1)
    embeddings = embeddings / mask.sum(-1).sqrt().view(-1, 1, 1)
    eye = torch.eye(features.size(1), dtype=unary.dtype)
    system = embeddings @ embeddings.transpose(1, 2) + task_nn.diagonal * eye
    pairs = (mask.unsqueeze(-1) & mask.unsqueeze(1))
    system = torch.where(pairs, system, eye)
    return torch.linalg.solve(system, unary).reshape(logits.shape)


def test_registered():
    assert TaskNN.by_name("gaussian-crf") is GaussianCRFTaskNN


def test_binary_image_logits_are_the_crf_optimum_and_its_gradients_those_of_the_dense_solve():
    task_nn = GaussianCRFTaskNN(image_unary(), feature_dim=F, embedding_dim=D, lambda_init=0.5, tolerance=1e-10)
    task_nn.double()
    task_nn.unary.features = task_nn.unary.features.double()
    output = task_nn()
    assert output.logits.shape == (2, 3, 4) and output.features is task_nn.unary.features
    positions = task_nn.unary.features.flatten(2).transpose(1, 2)  # (B, H*W, F)
    expected = reference(task_nn, positions, torch.ones(2, 12, dtype=torch.bool))
    torch.testing.assert_close(output.logits, expected)
    assert not torch.allclose(output.logits, task_nn.unary.logits / 0.5)  # the pairwise term acts

    weights = torch.randn(2, 3, 4, dtype=torch.float64)
    parameters = [task_nn.unary.logits, task_nn.embedding.weight, task_nn.embedding.bias, task_nn.log_lambda]
    grads = torch.autograd.grad((weights * output.logits).sum(), parameters)
    expected_grads = torch.autograd.grad((weights * expected).sum(), parameters)
    for grad, reference_grad in zip(grads, expected_grads):
        assert grad.abs().sum() > 0
        torch.testing.assert_close(grad, reference_grad)


def test_tagger_logits_with_classes_and_padding():
    task_nn = tagger_crf()
    output = task_nn()
    unary = task_nn.unary
    assert output.logits.shape == (2, 4, 3) and output.mask is unary.mask
    with torch.no_grad():
        expected = reference(task_nn, unary.features, unary.mask)
    torch.testing.assert_close(output.logits, expected)
    torch.testing.assert_close(output.logits[1, 2:], unary.logits[1, 2:])  # padding keeps its unary
    # downstream reads s* as any task-net's logits: the prediction is the per-position argmax
    distribution = SequenceTagsOutputSpace().distribution(output)
    prediction = distribution.argmax()
    assert prediction.argmax(-1)[unary.mask].tolist() == output.logits.argmax(-1)[unary.mask].tolist()


def test_with_lambda_one_and_no_pairwise_term_the_logits_are_the_unary():
    task_nn = GaussianCRFTaskNN(image_unary(), feature_dim=F, embedding_dim=D, embedding_normalization="none",
                                learn_lambda=False)
    with torch.no_grad():
        task_nn.embedding.weight.zero_()
        task_nn.embedding.bias.zero_()
    torch.testing.assert_close(task_nn().logits, task_nn.unary.logits)
    assert "log_lambda" not in dict(task_nn.named_parameters()) and "log_lambda" in dict(task_nn.named_buffers())


@pytest.mark.parametrize("normalization, bound", [("mean-cosine", 1.0), ("cosine", 12.0)])
def test_normalised_embeddings_bound_the_pairwise_term(normalization, bound):
    task_nn = GaussianCRFTaskNN(image_unary(), feature_dim=F, embedding_dim=D, embedding_normalization=normalization)
    features = task_nn.unary.features.flatten(2).transpose(1, 2)
    embeddings = task_nn._embeddings(features, None)
    pairwise = embeddings @ embeddings.transpose(1, 2)
    diagonal = pairwise.diagonal(dim1=1, dim2=2)
    unit = 1.0 / 12 if normalization == "mean-cosine" else 1.0  # 12 = H * W real positions
    torch.testing.assert_close(diagonal, torch.full_like(diagonal, unit))
    assert (torch.linalg.eigvalsh(pairwise) <= bound + 1e-5).all()


def test_a_feedforward_embedding_and_the_feature_dim_of_a_unet():
    from seal.modules.task_nets.unet import UNetTaskNN

    torch.manual_seed(0)  # a tiny ReLU net can start with an all-zero feature map; this one does not
    unet = UNetTaskNN(channels=4, depth=1, batch_norm=False)
    embedding = FeedForward(4, 2, [6, D], Activation.by_name("tanh")())
    task_nn = GaussianCRFTaskNN(unet, embedding_dim=D, embedding=embedding)
    assert task_nn.feature_dim == 4
    image = torch.rand(2, 3, 5, 6)
    output = task_nn(image=image)
    assert output.features.abs().sum() > 0
    assert output.logits.shape == (2, 5, 6) and torch.isfinite(output.logits).all()
    output.logits.sum().backward()
    assert embedding._linear_layers[0].weight.grad.abs().sum() > 0
    assert unet.output.weight.grad.abs().sum() > 0


def test_hitting_the_iteration_cap_is_warned(caplog):
    task_nn = GaussianCRFTaskNN(image_unary(), feature_dim=F, embedding_dim=D, embedding_normalization="cosine",
                                tolerance=1e-12, max_iterations=1)
    with caplog.at_level(logging.WARNING, logger="seal.nn.linear_solvers"):
        task_nn()
    assert "cap of 1 iterations" in caplog.text


@pytest.mark.parametrize("kwargs, message", [
    ({"lambda_init": 0.0}, "lambda_init must be > 0"),
    ({"lambda_init": -1.0}, "lambda_init must be > 0"),
    ({"tolerance": 0.0}, "tolerance must be > 0"),
    ({"max_iterations": 0}, "max_iterations >= 1"),
    ({"embedding_normalization": "l1"}, "unknown embedding_normalization"),
    ({"embedding": FeedForward(F, 1, 2, Activation.by_name("linear")())}, "expected feature_dim 5 to embedding_dim 3"),
])
def test_bad_configurations_are_refused(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        GaussianCRFTaskNN(image_unary(), feature_dim=F, embedding_dim=D, **kwargs)


def test_a_unary_without_feature_dim_needs_one():
    with pytest.raises(ConfigurationError, match="give feature_dim"):
        GaussianCRFTaskNN(image_unary(), embedding_dim=D)


def test_unary_outputs_of_the_wrong_layout_are_refused():
    expected = r"features \(2, 5, 3\) for logits \(2, 3, 4\); got features \(2, 5, 3, 4\)"
    with pytest.raises(ConfigurationError, match=expected):
        GaussianCRFTaskNN(image_unary(), feature_dim=F, embedding_dim=D, classes_last=True)()
    with pytest.raises(ConfigurationError, match="got features None"):
        GaussianCRFTaskNN(FixedTaskNN(torch.zeros(2, 3)), feature_dim=F, embedding_dim=D)()
    unary = tagger_unary()
    unary.mask = unary.mask[:, :3]
    with pytest.raises(ConfigurationError, match="mask must be"):
        GaussianCRFTaskNN(unary, feature_dim=F, embedding_dim=D, classes_last=True, channels_first=False)()


def test_built_from_a_config_around_a_unet():
    from allennlp.common import Params

    task_nn = TaskNN.from_params(Params({
        "type": "gaussian-crf", "unary": {"type": "unet", "channels": 4, "depth": 1, "batch_norm": False},
        "embedding_dim": 2, "lambda_init": 2.0, "learn_lambda": False, "max_iterations": 20,
    }))
    assert isinstance(task_nn, GaussianCRFTaskNN) and task_nn.embedding.in_features == 4
    torch.testing.assert_close(task_nn.diagonal, torch.tensor(2.0))
    assert task_nn(image=torch.rand(1, 3, 4, 4)).logits.shape == (1, 4, 4)
