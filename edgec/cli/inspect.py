"""``edgec inspect ARTIFACT [--json]``: the manifest, readable (hashes are verified first)."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show an artifact's manifest",
                       description="Verify an artifact and print its manifest.")
    p.add_argument("artifact", help="the .edgec.tar file")
    p.add_argument("--json", action="store_true", help="print the raw manifest JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgec.artifact import load
    from edgec.interface.compile_report import format_size, stats_lines

    artifact = load(args.artifact)
    m = artifact.manifest
    if args.json:
        print(json.dumps(m.to_json(), indent=2))
        return 0
    model, board, stats = m.model, m.board, m.stats
    print(f"artifact   {args.artifact} (all {len(m.files)} file hashes verified)")
    print(f"model      {model['name']}  sha256 {model['sha256'][:16]}...  "
          f"producer {model.get('producer')}, opset {model.get('source_opset')} -> "
          f"{model.get('opset')}")
    print(f"board      {board['name']} ({board['arch']}, {board['kind']}): "
          f"{board.get('description', '')}")
    print(f"target     {json.dumps(m.target, sort_keys=True)}")
    if m.cpu_features:
        print(f"cpu        needs {', '.join(m.cpu_features)}")
    print("versions   " + ", ".join(f"{k} {v}" for k, v in m.versions.items()))
    for spec in m.signature.inputs:
        print(f"input      {spec.describe()}")
    for spec in m.signature.outputs:
        print(f"output     {spec.describe()}")
    passes = m.pipeline.get("passes", [])
    print(f"pipeline   -O{m.pipeline.get('opt_level')}, {len(passes)} passes: {', '.join(passes)}")
    if m.pipeline.get("disabled"):
        print(f"disabled   {', '.join(m.pipeline['disabled'])}")
    tuning = m.pipeline.get("tuning")
    if tuning:
        print(f"tuning     {tuning['tuned_kernels']} kernels from {tuning['records']} "
              f"(records sha256 {tuning['sha256'][:16]}...)")
    if stats:
        for line in stats_lines(stats):
            print(line)
    if stats.get("mcu"):
        from edgec.interface.compile_report import arena_plan_lines

        print(f"entry      {m.entry['function']}() in {m.entry['source']}, declared in "
              f"{m.entry['header']}; arena {m.entry['arena_macro']} = {m.entry['arena_bytes']:,} B")
        print("arena plan")
        for line in arena_plan_lines(stats["mcu"]):
            print("  " + line)
    for name, entry in sorted(m.files.items()):
        print(f"file       {name}  {format_size(entry.size)}  sha256 {entry.sha256}")
    return 0
