"""Fuzz harness `trust_list` (atheris): see targets.trust_list and README.md. Run through run.py, or by hand:

python tests/fuzz/fuzz_trust_list.py CORPUS_DIR [libFuzzer options]
"""

import sys

import atheris

with atheris.instrument_imports(include=["econsent"]):
    import targets

if __name__ == "__main__":
    atheris.Setup(sys.argv, targets.TARGETS["trust_list"])
    atheris.Fuzz()
