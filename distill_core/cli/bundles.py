"""`distill-lab pack` and `unpack`: finished runs as one zip (a lab bundle), opened in another data folder."""

from __future__ import annotations

import sys

from distill_core.core.home import data_home
from distill_core.runs import bundles, store


def add_parser(sub) -> None:
    pack = sub.add_parser("pack", help="finished runs as one zip (a lab bundle): results, measurements, curves, "
                                       "student and control as safetensors; open it with `distill-lab unpack`")
    pack.add_argument("runs", nargs="+", metavar="RUN", help="run ids (or unique prefixes of them)")
    pack.add_argument("--out", required=True, metavar="PATH", help="the zip to write, e.g. lab.zip")
    pack.set_defaults(func=cmd_pack)
    unpack = sub.add_parser("unpack", help="import a lab bundle's runs into this data folder (DISTILL_LAB_HOME); "
                                           "ids already here get fresh ones")
    unpack.add_argument("bundle", metavar="ZIP", help="a zip written by `distill-lab pack`")
    unpack.set_defaults(func=cmd_unpack)


def cmd_pack(args) -> int:
    summary = bundles.pack_runs(args.runs, args.out)
    for name in summary.left_out:
        print(f"left out {name} (bundles carry only results, logs, tokenizer files, safetensors and ONNX)",
              file=sys.stderr)
    print(f"packed {len(summary.run_ids)} run(s) ({', '.join(summary.run_ids)}), {summary.files} files, "
          f"{summary.bytes / 2**20:.1f} MiB unpacked -> {summary.path}")
    return 0


def cmd_unpack(args) -> int:
    renames = bundles.unpack_bundle(args.bundle)
    print(f"imported {len(renames)} run(s) into {data_home()}", file=sys.stderr)
    for old, new in renames:
        note = f"  (was {old} in the bundle: that id is taken here)" if new != old else ""
        print(f"{new}  {store.get_run(new).name}{note}")
    return 0
