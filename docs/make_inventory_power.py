"""Run `carbonsim inventory`'s engine on the SPECpower sample and write its power error into
docs/validation_power.md (the cases: :mod:`carbonsim.validation.inventory_power`).

    python docs/make_inventory_power.py [--write]

Prints the section; with ``--write`` puts it between the inventory-specpower markers of
docs/validation_power.md (appended at the end the first time; other sections untouched).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from carbonsim.validation.docs import write_doc_section
from carbonsim.validation.inventory_power import BEGIN, END, UTILS, evaluate, section

DOC = Path(__file__).resolve().parent / "validation_power.md"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="update docs/validation_power.md")
    args = ap.parse_args(argv)
    r = evaluate()
    text = section(r)
    print(text)
    print(f"inventory run on {r['n']} rows x {len(UTILS)} utils: {r['seconds']:.2f} s")
    if args.write:
        write_doc_section(text.rstrip("\n"), BEGIN, END, DOC)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
