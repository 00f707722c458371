"""A stand-in ``torch`` for child processes of ``fastgrad-run`` (spawn / forkserver): installs
the torch -> fastgrad import hook and replaces itself with fastgrad. Only on sys.path under
fastgrad-run; never imported otherwise."""

from __future__ import annotations

import sys

import fastgrad
from fastgrad._torch_alias import install

install()
sys.modules[__name__] = fastgrad
