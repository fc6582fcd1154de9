"""Our own network definitions load the ImageNet state dicts shipped on PyPI and see a cat as a cat."""

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.train  # torch and mien.train.nets are imported inside the tests: collection needs no torch
IMAGENET_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.mark.parametrize("name,head", [("mobilenetv2", "classifier.1."), ("efficientnet_lite0", "_fc.")])
def test_imagenet_backbones_recognise_a_cat(name, head):
    import skimage.data
    import torch

    from mien.train.nets import IMAGENET_WEIGHTS, build_network

    torch.set_num_threads(2)
    model = build_network(name, 1000, pretrained=True).eval()
    state = torch.load(IMAGENET_WEIGHTS[name](), map_location="cpu", weights_only=True)
    head_module = model.classifier[1] if name == "mobilenetv2" else model._fc
    head_module.load_state_dict({k[len(head):]: v for k, v in state.items() if k.startswith(head)})
    cat = cv2.resize(skimage.data.chelsea(), (224, 224)).astype(np.float32) / 255
    x = (cat - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        top3 = model(torch.from_numpy(x.transpose(2, 0, 1)[None]).float()).topk(3).indices[0].tolist()
    assert set(top3) <= IMAGENET_CATS, top3


def test_unknown_backbone():
    from mien.train.nets import build_network

    with pytest.raises(KeyError, match="efficientnet_lite0"):
        build_network("resnet9000", 8)


def test_small_backbone_keeps_the_imagenet_blocks_it_shares():
    import torch

    from mien.train.nets import IMAGENET_WEIGHTS, build_network

    model = build_network("mobilenetv2_small", 8, pretrained=True)
    state = torch.load(IMAGENET_WEIGHTS["mobilenetv2_small"](), map_location="cpu", weights_only=True)
    own = model.state_dict()
    shared = [k for k in own if k in state and not k.startswith("classifier.")]
    assert len(shared) > 100 and all(torch.equal(own[k], state[k]) for k in shared)
    assert not any(k.startswith("head_conv") for k in shared)
    assert model(torch.rand(2, 3, 48, 48)).shape == (2, 8)
