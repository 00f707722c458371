"""``fastgrad-run SCRIPT [ARGS...]`` / ``python -m fastgrad.run SCRIPT [ARGS...]``: runs an
unmodified PyTorch script on fastgrad. Every ``torch`` / ``torch.X`` import resolves to fastgrad
(fastgrad/_torch_alias.py); ``sys.argv``, ``__name__ == "__main__"``, ``sys.path[0]`` and the exit
status are those of ``python SCRIPT ARGS``. ``-m MODULE`` runs a module as ``python -m`` does.
It does not translate code: a torch name fastgrad lacks is still an AttributeError.
"""

from __future__ import annotations

import os
import runpy
import sys

from fastgrad._torch_alias import install

USAGE = """usage: fastgrad-run SCRIPT [ARGS...]
       fastgrad-run -m MODULE [ARGS...]
Runs a PyTorch script with `torch` and every `torch.*` import resolved to fastgrad."""


def main(argv: list[str] | None = None) -> int:
    """Runs the script named by ``argv[0]`` (default: ``sys.argv[1:]``); returns 0 when it
    finishes (a SystemExit from the script propagates, with its code)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] == "-m":
        if len(args) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        module, rest = args[1], args[2:]
        sys.argv = [module, *rest]
        sys.path[0:1] = [os.getcwd()]
        install()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    script, rest = args[0], args[1:]
    if not os.path.exists(script):
        print(f"fastgrad-run: can't open file {script!r}: no such file", file=sys.stderr)
        return 2
    sys.argv = [script, *rest]
    sys.path[0:1] = [os.path.dirname(os.path.abspath(script))]
    install()
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
