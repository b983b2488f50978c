#!/usr/bin/python3
"""Makes the model zoo: torchvision's and torchaudio's own architectures in small configurations,
with random weights and randomised BatchNorm statistics, scripted (and traced where tracing keeps
the model's behaviour), each with the inputs it is verified on saved beside it as NAME.inputs.pt
(the convention tsopt reads; see docs/verify.md).

The configurations are the library classes with fewer and narrower layers, smaller images and
fewer classes than the published models, so that the whole zoo runs through the suite in CI's
time. What each cuts is written next to it; docs/zoo.md lists them.

Usage: make_zoo.py OUT_DIR [--only NAME,...]    writes OUT_DIR/NAME.KIND.pt and
                                                OUT_DIR/NAME.KIND.inputs.pt, then OUT_DIR/zoo.json
                                                (every model's family and kind) last
       make_zoo.py --list                       prints NAME.KIND;... (for CMake)
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torchaudio
import torchvision
from torchvision.models import detection, quantization, segmentation, video
from torchvision.models.detection import backbone_utils
from torchvision.ops import misc as misc_ops

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from make_models import randomise  # noqa: E402

ZOO = {}  # name -> (family, make, kinds)


def model(family, kinds=("scripted",)):
    def register(make):
        ZOO[make.__name__] = (family, make, kinds)
        return make
    return register


BOTH = ("scripted", "traced")


def images(n=1, size=64):
    return [torch.rand(3, size, size) for _ in range(n)]


# Detection: a MobileNetV3-Small FPN backbone with plain BatchNorm (what torchvision builds when
# there are no pretrained weights), 64-pixel images, 3 classes, 128-wide box heads instead of
# 1024. Scripted only: tracing a detector freezes its data-dependent control flow.
def small_fpn_backbone(returned_layers=None, extra_blocks=None):
    return backbone_utils.mobilenet_backbone(
        backbone_name="mobilenet_v3_small", weights=None, fpn=True, trainable_layers=6,
        returned_layers=returned_layers, extra_blocks=extra_blocks, norm_layer=nn.BatchNorm2d)


def rcnn_heads():
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    return dict(box_head=TwoMLPHead(256 * 7 * 7, 128), box_predictor=FastRCNNPredictor(128, 3),
                min_size=64, max_size=64, box_score_thresh=0.0, box_detections_per_img=10,
                rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20)


def anchors(count):
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    return AnchorGenerator(sizes=tuple((16 * 2 ** i,) for i in range(count)),
                           aspect_ratios=((0.5, 1.0, 2.0),) * count)


@model("detection")
def faster_rcnn():
    return detection.FasterRCNN(small_fpn_backbone(), rpn_anchor_generator=anchors(3),
                                **rcnn_heads()), (images(2),)


@model("detection")
def mask_rcnn():
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    return detection.MaskRCNN(small_fpn_backbone(), rpn_anchor_generator=anchors(3),
                              mask_head=MaskRCNNHeads(256, (32, 32), 1),
                              mask_predictor=MaskRCNNPredictor(32, 32, 3), **rcnn_heads()), \
        (images(1),)


@model("detection")
def keypoint_rcnn():
    from torchvision.models.detection.keypoint_rcnn import (KeypointRCNNHeads,
                                                            KeypointRCNNPredictor)
    heads = rcnn_heads()
    return detection.KeypointRCNN(small_fpn_backbone(), rpn_anchor_generator=anchors(3),
                                  keypoint_head=KeypointRCNNHeads(256, (32, 32)),
                                  keypoint_predictor=KeypointRCNNPredictor(32, 5), **heads), (images(1),)


@model("detection")
def retinanet():
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    return detection.RetinaNet(small_fpn_backbone([2, 3], LastLevelP6P7(256, 256)), num_classes=3,
                               anchor_generator=anchors(4), min_size=64, max_size=64,
                               score_thresh=0.0, detections_per_img=10, topk_candidates=20), \
        (images(1),)


@model("detection")
def fcos():
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7
    return detection.FCOS(small_fpn_backbone([2, 3], LastLevelP6P7(256, 256)), num_classes=3,
                          anchor_generator=anchors(4).__class__(
                              sizes=((8,), (16,), (32,), (64,)), aspect_ratios=((1.0,),) * 4),
                          min_size=64, max_size=64, score_thresh=0.0, detections_per_img=10,
                          topk_candidates=20), (images(1),)


@model("detection")
def ssdlite():
    # The published configuration apart from the classes and the image size (320 -> 128).
    m = detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                num_classes=3, score_thresh=0.0,
                                                detections_per_img=10, topk_candidates=20)
    m.transform.min_size, m.transform.max_size = (128,), 128
    m.transform.fixed_size = (128, 128)
    return m, (images(1, 128),)


# Segmentation: the published heads on MobileNetV3-Large (LR-ASPP, DeepLabV3) and a ResNet-18
# FCN (ResNet-50 in the published one), 3 classes, 64-pixel images.
@model("segmentation", kinds=BOTH)
def deeplabv3():
    return segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                     num_classes=3), (torch.rand(1, 3, 64, 64),)


@model("segmentation", kinds=BOTH)
def lraspp():
    return segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                  num_classes=3), (torch.rand(1, 3, 64, 64),)


@model("segmentation", kinds=BOTH)
def fcn():
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.fcn import FCN, FCNHead
    backbone = IntermediateLayerGetter(torchvision.models.resnet18(), {"layer4": "out"})
    return FCN(backbone, FCNHead(512, 3)), (torch.rand(1, 3, 64, 64),)


# Video: one block per stage instead of two (R(2+1)D, MC3), 10 classes, 4 frames of 32x32.
@model("video", kinds=BOTH)
def r2plus1d():
    m = video.resnet.VideoResNet(video.resnet.BasicBlock, [video.resnet.Conv2Plus1D] * 4,
                                 [1, 1, 1, 1], video.resnet.R2Plus1dStem, num_classes=10)
    return m, (torch.rand(1, 3, 4, 32, 32),)


@model("video", kinds=BOTH)
def mc3():
    m = video.resnet.VideoResNet(video.resnet.BasicBlock,
                                 [video.resnet.Conv3DSimple] + [video.resnet.Conv3DNoTemporal] * 3,
                                 [1, 1, 1, 1], video.resnet.BasicStem, num_classes=10)
    return m, (torch.rand(1, 3, 4, 32, 32),)


@model("video", kinds=BOTH)
def s3d():
    # The published network, with an adaptive average pool for 8 frames of 64x64 (its fixed
    # 2x7x7 pool needs 16 frames of 224x224).
    m = video.s3d(weights=None, num_classes=10)
    m.avgpool = nn.AdaptiveAvgPool3d(1)
    return m, (torch.rand(1, 3, 8, 64, 64),)


# Optical flow: the published RAFT-Small, 128x128 images (the smallest its 4-level correlation
# pyramid takes: at 64x64 the last level is 1x1 and its sampling grid divides by zero), 3 flow
# updates instead of 12.
@model("optical_flow")
def raft():
    return torchvision.models.optical_flow.raft_small(weights=None), \
        (torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128), 3)


class FixedFlowUpdates(nn.Module):
    """RAFT with its number of flow updates fixed, so that tracing unrolls the update loop: every
    update reads the same weights (what -O2 must store once)."""

    def __init__(self, raft, updates):
        super().__init__()
        self.raft, self.updates = raft, updates

    def forward(self, image1, image2):
        return self.raft(image1, image2, num_flow_updates=self.updates)


@model("optical_flow", kinds=("traced",))
def raft_unrolled():
    return FixedFlowUpdates(torchvision.models.optical_flow.raft_small(weights=None), 3), \
        (torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128))


# Quantized: torchvision's quantizable MobileNetV2 and ResNet-18, as float models (QuantStub,
# FloatFunctional) and converted to int8 for the qnnpack engine after calibrating on random data.
@model("quantizable", kinds=BOTH)
def quantizable_mobilenet_v2():
    return quantization.mobilenet_v2(weights=None, quantize=False), (torch.rand(1, 3, 64, 64),)


@model("quantizable", kinds=BOTH)
def quantizable_resnet18():
    return quantization.resnet18(weights=None, quantize=False), (torch.rand(1, 3, 64, 64),)


@model("quantized", kinds=BOTH)
def quantized_mobilenet_v2():
    torch.backends.quantized.engine = "qnnpack"
    m = quantization.mobilenet_v2(weights=None, quantize=False).eval()
    randomise(m)
    m.fuse_model()
    m.qconfig = torch.ao.quantization.get_default_qconfig("qnnpack")
    torch.ao.quantization.prepare(m, inplace=True)
    m(torch.rand(4, 3, 64, 64))
    torch.ao.quantization.convert(m, inplace=True)
    return m, (torch.rand(1, 3, 64, 64),)


# Transformers: ViT with 2 layers of width 64 on 32x32 images (12 of 768 on 224 published);
# Swin-T's blocks with depths 2-2 of width 24 (2-2-6-2 of 96 published).
@model("transformer", kinds=BOTH)
def vit():
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=64,
                             mlp_dim=128, num_classes=10), (torch.rand(1, 3, 32, 32),)


@model("transformer", kinds=BOTH)
def swin():
    from torchvision.models.swin_transformer import SwinTransformer
    return SwinTransformer(patch_size=[4, 4], embed_dim=24, depths=[2, 2], num_heads=[2, 2],
                           window_size=[4, 4], num_classes=10), (torch.rand(1, 3, 32, 32),)


# torchaudio: each model's class with fewer and narrower layers.
@model("audio")
def conformer():
    m = torchaudio.models.Conformer(input_dim=16, num_heads=2, ffn_dim=32, num_layers=2,
                                    depthwise_conv_kernel_size=3)
    return m, (torch.rand(2, 20, 16), torch.tensor([20, 15]))


@model("audio")
def emformer():
    m = torchaudio.models.Emformer(input_dim=16, num_heads=2, ffn_dim=32, num_layers=2,
                                   segment_length=4, right_context_length=1)
    return m, (torch.rand(2, 21, 16), torch.tensor([21, 17]))


@model("audio")
def tacotron2():
    # Tacotron2's prenet applies dropout at inference: it draws random numbers in eval mode.
    m = torchaudio.models.Tacotron2(n_symbol=20, n_mels=16, symbol_embedding_dim=32,
                                    encoder_embedding_dim=32, encoder_n_convolution=2,
                                    encoder_kernel_size=3, decoder_rnn_dim=32,
                                    decoder_max_step=20, attention_rnn_dim=32, attention_hidden_dim=16,
                                    attention_location_n_filter=4,
                                    attention_location_kernel_size=3, prenet_dim=16,
                                    postnet_n_convolution=2, postnet_kernel_size=3,
                                    postnet_embedding_dim=32)
    tokens = torch.randint(0, 20, (2, 7))
    mels = torch.rand(2, 16, 12)
    return m, (tokens, torch.tensor([7, 5]), mels, torch.tensor([12, 9]))


@model("audio")
def wavernn():
    m = torchaudio.models.WaveRNN(upsample_scales=[2, 2], n_classes=16, hop_length=4,
                                  n_res_block=2, n_rnn=16, n_fc=16, kernel_size=3, n_freq=8,
                                  n_hidden=8, n_output=8)
    return m, (torch.rand(2, 1, 16 * 4 - 8), torch.rand(2, 1, 8, 16))


@model("audio", kinds=BOTH)
def conv_tasnet():
    m = torchaudio.models.ConvTasNet(num_sources=2, enc_kernel_size=8, enc_num_feats=16,
                                     msk_kernel_size=3, msk_num_feats=8, msk_num_hidden_feats=16,
                                     msk_num_layers=2, msk_num_stacks=1)
    return m, (torch.rand(1, 1, 400),)


@model("audio")
def wav2vec2():
    m = torchaudio.models.wav2vec2_model(
        extractor_mode="group_norm", extractor_conv_layer_config=[(8, 10, 5), (8, 3, 2)],
        extractor_conv_bias=False, encoder_embed_dim=16, encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=4, encoder_pos_conv_groups=2, encoder_num_layers=2,
        encoder_num_heads=2, encoder_attention_dropout=0.0, encoder_ff_interm_features=32,
        encoder_ff_interm_dropout=0.0, encoder_dropout=0.0, encoder_layer_norm_first=False,
        encoder_layer_drop=0.0, aux_num_out=10)
    return m, (torch.rand(2, 400), torch.tensor([400, 300]))


@model("audio", kinds=("traced",))
def hdemucs():
    # Traced only: torchaudio 0.13's HDemucs does not script (an argument type it declares).
    m = torchaudio.models.HDemucs(sources=["a", "b"], channels=8, growth=2, nfft=256, depth=3)
    return m, (torch.rand(1, 2, 1024),)


def make(name, out_dir):
    family, factory, kinds = ZOO[name]
    torch.manual_seed(0)
    m, example = factory()
    m = randomise(m.eval())
    made = []
    for kind in kinds:
        if kind == "scripted":
            sm = torch.jit.script(m)
        else:
            sm = torch.jit.trace(m, example, check_trace=False, strict=False)
        path = os.path.join(out_dir, f"{name}.{kind}.pt")
        sm.save(path + ".tmp")
        torch.save(example, path[:-3] + ".inputs.pt")
        os.replace(path + ".tmp", path)
        made.append({"name": f"{name}.{kind}", "family": family, "kind": kind})
    return made


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--only", default="")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        print(";".join(f"{name}.{kind}" for name, (_, _, kinds) in ZOO.items() for kind in kinds),
              end="")
        return
    if not args.out_dir:
        ap.error("OUT_DIR is required")
    os.makedirs(args.out_dir, exist_ok=True)
    names = args.only.split(",") if args.only else list(ZOO)
    entries = []
    for name in names:
        start = time.time()
        entries += make(name, args.out_dir)
        print(f"{name}: {time.time() - start:.1f} s", file=sys.stderr)
    if not args.only:
        with open(os.path.join(args.out_dir, "zoo.json.tmp"), "w") as f:
            json.dump(entries, f, indent=1)
        os.replace(os.path.join(args.out_dir, "zoo.json.tmp"), os.path.join(args.out_dir, "zoo.json"))


if __name__ == "__main__":
    main()
