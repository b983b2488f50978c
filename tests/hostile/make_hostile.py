#!/usr/bin/python3
"""Makes crafted TorchScript archives for the hostile-input suite (tests/test_hostile.cpp).

Each is a valid zip with correct CRCs whose contents lie: a tensor's offset, size or stride past
its storage, a storage record shorter than its declared size or missing, a pickle that is
truncated, nested a million deep or uses an opcode LibTorch lacks, code nested 20,000 deep,
compressed records that unpack to far more than the file's size. LibTorch 1.13 trusts all of these; tsopt must refuse
each with one line.

    make_hostile.py OUTDIR
"""
import os
import pickletools
import struct
import sys
import zipfile
import zlib

import torch


def records(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write(path, recs):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in recs:
            z.writestr(name, data)


def replace_record(recs, suffix, data):
    """recs with the record whose name ends in `suffix` replaced (None: removed)."""
    out = []
    for name, old in recs:
        if name.endswith(suffix):
            if data is None:
                continue
            old = data(old) if callable(data) else data
        out.append((name, old))
    return out


def tensor_ints(pkl):
    """Offsets of the first tensor's storage offset, sizes and strides (each an integer opcode)
    and of its storage's element count, in a pickle with one _rebuild_tensor_v2."""
    ops = list(pickletools.genops(pkl))
    persid = next(i for i, (op, _, _) in enumerate(ops) if op.name == "BINPERSID")
    numel = ops[persid - 2]  # the last field of the storage tuple, before TUPLE
    offset = ops[persid + 2]  # after the memo's BINPUT
    groups, group = [], None  # the sizes' and the strides' integers
    for op in ops[persid + 3:]:
        if op[0].name == "MARK":
            group = []
        elif op[0].name == "TUPLE":
            groups.append(group)
            if len(groups) == 2:
                break
        elif group is not None:
            group.append(op)
    return {"numel": numel, "offset": offset, "size0": groups[0][0], "stride0": groups[1][0]}


def set_int(pkl, op, value):
    """pkl with the integer opcode `op` replaced by one pushing `value`."""
    opcode, _, pos = op
    length = {"BININT1": 2, "BININT2": 3, "BININT": 5}[opcode.name]
    if -2**31 <= value < 2**31:
        new = b"J" + struct.pack("<i", value)
    else:
        digits = value.to_bytes(8, "little", signed=True)
        new = b"\x8a" + bytes([len(digits)]) + digits
    return pkl[:pos] + new + pkl[pos + length:]


def patched(recs, record, field, value):
    def edit(pkl):
        return set_int(pkl, tensor_ints(pkl)[field], value)
    return replace_record(recs, record, edit)


def with_statement(recs, statement):
    """recs with `statement` (indented lines) inserted before the first `return` of forward."""
    def edit(source):
        text = source.decode()
        at = text.index("    return ")
        return (text[:at] + statement + text[at:]).encode()
    return [(n, edit(d) if n.endswith("activation.py") else d) for n, d in recs]


def with_return(recs, expression):
    """recs with forward's `return` returning `expression` instead: a call that the LibTorch
    saving it (1.13) lacks but a newer one has, as a model saved by that one would hold."""
    def edit(source):
        text = source.decode()
        at = text.index("    return ")
        return (text[:at] + "    return " + expression + "\n").encode()
    return [(n, edit(d) if n.endswith("activation.py") else d) for n, d in recs]


def write_bomb(out, path, megabytes):
    """The model at `path` with its code record padded to unpack to `megabytes` MiB more (of
    spaces, which deflate about a thousand to one), streamed so that no copy is in memory."""
    with zipfile.ZipFile(path) as z:
        code = next(i.filename for i in z.infolist() if i.filename.endswith(".py"))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in records(path):
            if name != code:
                z.writestr(name, data, compress_type=zipfile.ZIP_STORED)
                continue
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as f:
                f.write(data)
                chunk = b" " * (1 << 20)
                for _ in range(megabytes):
                    f.write(chunk)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    lin = os.path.join(out, "linear.pt")
    torch.jit.script(torch.nn.Linear(3, 4)).save(lin)

    class AddConstant(torch.nn.Module):
        def forward(self, x):
            return x + torch.tensor([1.0, 2.0, 3.0])

    const = os.path.join(out, "constant.pt")
    torch.jit.trace(AddConstant(), torch.ones(3)).save(const)

    relu = os.path.join(out, "relu.pt")
    torch.jit.script(torch.nn.ReLU()).save(relu)

    base = records(lin)
    deep = 20_000  # LibTorch 1.13's compiler overflows its stack on each of these
    cases = {
        "code_deep_parentheses": with_statement(
            records(relu), "    y = " + "(" * deep + "1" + ")" * deep + "\n"),
        "code_long_chain": with_statement(records(relu), "    y = 1" + " + 1" * deep + "\n"),
        "code_deep_blocks": with_statement(
            records(relu),
            "".join("  " * (i + 2) + "if True:\n" for i in range(600)) + "  " * 602 + "y = 1\n"),
        "tensor_offset": patched(base, "data.pkl", "offset", 2**31 - 1),
        "tensor_offset_negative": patched(base, "data.pkl", "offset", -4),
        "tensor_size": patched(base, "data.pkl", "size0", 1 << 40),
        "tensor_stride": patched(base, "data.pkl", "stride0", 1 << 30),
        "tensor_stride_negative": patched(base, "data.pkl", "stride0", -3),
        "tensor_overflow": patched(patched(base, "data.pkl", "size0", 1 << 62), "data.pkl",
                                   "stride0", 1 << 62),
        "storage_short": replace_record(base, "data/0", lambda d: d[:8]),
        "storage_missing": replace_record(base, "data/0", None),
        "storage_huge": patched(base, "data.pkl", "numel", 1 << 60),
        "storage_unknown_type": replace_record(
            base, "data.pkl", lambda d: d.replace(b"FloatStorage", b"EvilyStorage")),
        "constant_offset": patched(records(const), "constants.pkl", "offset", 1000),
        "pickle_truncated": replace_record(base, "data.pkl", lambda d: d[:len(d) // 2]),
        "pickle_unknown_opcode": replace_record(base, "data.pkl",
                                                lambda d: d[:2] + b"\xff" + d[2:]),
        "pickle_unbalanced": replace_record(base, "data.pkl", lambda d: d[:2] + b"t" + d[2:]),
        # A memo entry 2^31 in a source-range pickle: LibTorch grows its memo vector to it.
        "debug_pickle_memo": replace_record(base, ".debug_pkl",
                                            lambda d: d[:2] + b"Nr\xff\xff\xff\x7f0" + d[2:]),
        # A tuple in a tuple ... a million deep: 2 MB of pickle.
        "pickle_deep": replace_record(base, "data.pkl",
                                      b"\x80\x02)" + b"\x85" * 1_000_000 + b"."),
        # Archives of a newer LibTorch (torch_compat.h): a format version past any LibTorch's,
        # an operator and an overload that LibTorch 1.13 lacks and 2.x has, and an operator
        # that no LibTorch has.
        "format_too_new": replace_record(records(relu), "/version", b"99\n"),
        "calls_sdpa": with_return(records(relu),
                                  "torch.scaled_dot_product_attention(input, input, input)"),
        "calls_squeeze_dims": with_return(records(relu), "torch.squeeze(input, [0, 1])"),
        "calls_all_dims": with_return(records(relu), "torch.all(input, [0, 1])"),
        "calls_unknown_aten": with_return(records(relu), "ops.aten.tsopt_no_such_op(input)"),
    }
    for name, recs in cases.items():
        write(os.path.join(out, name + ".pt"), recs)
    # The 1 MB archive that unpacks to 1 GiB of the issue, and a small one for --max-inflate.
    write_bomb(os.path.join(out, "bomb.pt"), lin, 1024)
    write_bomb(os.path.join(out, "bomb_small.pt"), lin, 8)
    # LibTorch must be able to read the untouched bases: otherwise the cases test nothing.
    for path in (lin, const, relu):
        torch.jit.load(path)


if __name__ == "__main__":
    main()
