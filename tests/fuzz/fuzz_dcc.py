"""Fuzz harness `dcc` (atheris): see targets.dcc and README.md. Run through run.py, or by hand:

python tests/fuzz/fuzz_dcc.py CORPUS_DIR [libFuzzer options]
"""

import sys

import atheris

with atheris.instrument_imports(include=["econsent"]):
    import targets

if __name__ == "__main__":
    atheris.Setup(sys.argv, targets.TARGETS["dcc"])
    atheris.Fuzz()
