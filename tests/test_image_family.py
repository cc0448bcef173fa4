"""The image family interface: what the base class requires, and the defaults of its optional hooks."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dptab_core.image.encoder import encode_images  # noqa: E402
from dptab_core.image.family import DPSGDModel, RecordConditionedModel  # noqa: E402
from dptab_core.image.latent import LatentGaussian  # noqa: E402
from dptab_core.image.models import build_model  # noqa: E402
from dptab_core.image.presets import get_preset  # noqa: E402


class _Minimal(RecordConditionedModel):
    """Only what every family must provide: the per-sample loss and the drawing."""

    def __init__(self) -> None:
        super().__init__(get_preset("quick", has_public=False), 3, (8, 8, 3))
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.frozen = torch.nn.Parameter(torch.ones(1), requires_grad=False)

    def forward(self, x, cond):
        return (x.flatten(1) * self.scale).square().sum(1)

    def generate(self, cond, *, temperature, generator=None):
        return self.to_dataset_size(torch.zeros(cond.shape[0], 3, self.resolution, self.resolution))


def test_a_family_must_provide_forward_and_generate():
    class NoGenerate(RecordConditionedModel):
        def forward(self, x, cond):
            return x

    with pytest.raises(TypeError, match="generate"):
        NoGenerate(get_preset("quick", has_public=False), 3, (8, 8, 3))  # type: ignore[abstract]


def test_the_hooks_default_to_the_generic_loops():
    model = _Minimal()
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(model.prepare_inputs(images), encode_images(images, model.resolution))
    assert model.dpsgd_engine is None
    groups = model.dpsgd_param_groups(1e-3)
    assert len(groups) == 1 and groups[0]["params"] == [model.scale]  # trainable only, no lr of its own
    assert model.warm_start(None, None) is False  # type: ignore[arg-type]
    assert model.fit_public(images, steps=1, batch_size=1, lr=1e-3, seed=0, device=torch.device("cpu")) is None
    with pytest.raises(NotImplementedError):
        model.regression_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3))
    assert model.generate(torch.zeros(2, 3), temperature=1.0).shape == (2, 3, 8, 8)


def test_every_preset_builds_a_family_and_the_latent_one_overrides_its_hooks():
    for name in ("quick", "standard", "gpu"):  # cvae, diffusion (gpu without public images) and latent
        for has_public in (False, True):
            assert isinstance(
                build_model(get_preset(name, has_public=has_public), 5, (32, 32, 3)), RecordConditionedModel
            )
    latent = [
        m
        for m in (build_model(get_preset(n, has_public=True), 5, (32, 32, 3)) for n in ("quick", "standard"))
        if isinstance(m, LatentGaussian)
    ]
    assert latent, "the presets with public images use the latent family"
    for model in latent:
        assert model.dpsgd_engine == "vmap" and len(model.dpsgd_param_groups(1e-3)) == 2
    assert issubclass(RecordConditionedModel, DPSGDModel)
