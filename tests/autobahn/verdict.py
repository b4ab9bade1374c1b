#!/usr/bin/env python3
"""Judges Autobahn TestSuite reports by tidings' bar (see CONFORMANCE.md).

    verdict.py [--allow-unimplemented-deflate] SERVERS_INDEX [--expect AGENTS]
               [CLIENTS_INDEX [--expect AGENTS]]

Each INDEX is an index.json that wstest wrote:
``{agent: {case_id: {"behavior": ..., "behaviorClose": ..., ...}}}``.
``--expect AGENTS`` (comma-separated) names the agents that index must hold; it
applies to the index just before it. Without it, the first index must hold
tidings-tokio, tidings-async-std and tidings-smol, and the second tidings-tokio;
any further index (``run.sh parallel`` gives one per server) needs ``--expect``.

A case passes when both its ``behavior`` and its ``behaviorClose`` are OK or
INFORMATIONAL. Everything else (UNIMPLEMENTED, NON-STRICT, WRONG CODE, UNCLEAN,
FAILED, ...) fails. ``--allow-unimplemented-deflate`` (or the environment
variable AUTOBAHN_ALLOW_UNIMPLEMENTED_DEFLATE=1) lets UNIMPLEMENTED pass for
the permessage-deflate cases (12.*, 13.*), for testing a build or a peer
without the extension; tidings implements it, so the default is strict. An expected agent that is missing or
has no cases fails too.

Prints one summary line per agent and every failing case; exits 0 only when
everything passes.
"""

import json
import os
import sys
from collections import Counter

# Whether UNIMPLEMENTED passes for the permessage-deflate cases (12.*, 13.*).
# Off: tidings implements permessage-deflate (RFC 7692). Opt-in via the
# --allow-unimplemented-deflate flag or AUTOBAHN_ALLOW_UNIMPLEMENTED_DEFLATE=1.
ALLOW_UNIMPLEMENTED_DEFLATE = os.environ.get("AUTOBAHN_ALLOW_UNIMPLEMENTED_DEFLATE") == "1"
DEFLATE_CASE_PREFIXES = ("12.", "13.")

PASSING = ("OK", "INFORMATIONAL")

DEFAULT_EXPECT = [
    ["tidings-tokio", "tidings-async-std", "tidings-smol"],
    ["tidings-tokio"],
]


def case_key(case_id):
    """Sorts "9.10.2" after "9.2.1" (numeric, not text, order)."""
    return [int(p) if p.isdigit() else p for p in case_id.split(".")]


def value_passes(case_id, value):
    if value in PASSING:
        return True
    if value == "UNIMPLEMENTED":
        return ALLOW_UNIMPLEMENTED_DEFLATE and case_id.startswith(DEFLATE_CASE_PREFIXES)
    return False


def judge_agent(agent, cases):
    """Prints the summary and the failures of one agent; returns its failure count."""
    counts = Counter()
    failures = []
    for case_id in sorted(cases, key=case_key):
        result = cases[case_id]
        behavior = result.get("behavior", "<missing>")
        close = result.get("behaviorClose", "<missing>")
        ok = value_passes(case_id, behavior) and value_passes(case_id, close)
        if ok:
            # Counted by the worse-looking of the two (UNIMPLEMENTED, then
            # INFORMATIONAL, then OK), so each case is counted once.
            for label in ("UNIMPLEMENTED", "INFORMATIONAL", "OK"):
                if label in (behavior, close):
                    counts[label] += 1
                    break
        else:
            counts["failed"] += 1
            failures.append((case_id, behavior, close))
    parts = [f"{counts['OK']} OK", f"{counts['INFORMATIONAL']} INFORMATIONAL"]
    if counts["UNIMPLEMENTED"]:
        parts.append(f"{counts['UNIMPLEMENTED']} UNIMPLEMENTED ({', '.join(p + '*' for p in DEFLATE_CASE_PREFIXES)})")
    parts.append(f"{counts['failed']} failed")
    print(f"{agent}: {len(cases)} cases: {', '.join(parts)}")
    for case_id, behavior, close in failures:
        print(f"    FAIL {case_id}: behavior={behavior} behaviorClose={close}")
    return counts["failed"]


def judge_index(path, expected):
    """Judges one index.json; returns the number of problems found."""
    print(f"== {path}")
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print(f"    ERROR: cannot read {path}: {e}")
        return 1
    if not isinstance(index, dict):
        print(f"    ERROR: {path} is not a JSON object of agents")
        return 1
    problems = 0
    for agent in expected:
        if agent not in index:
            print(f"{agent}: MISSING from {path} (expected agents: {', '.join(expected)})")
            problems += 1
    for agent in sorted(index):
        cases = index[agent]
        if not isinstance(cases, dict) or not cases:
            print(f"{agent}: 0 cases: FAILED (no case ran)")
            problems += 1
            continue
        problems += judge_agent(agent, cases)
    if problems:
        print(f"    details per case: {os.path.join(os.path.dirname(path) or '.', 'index.html')}")
    return problems


def parse_args(argv):
    """Returns [(path, expected agents)]."""
    pairs = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--allow-unimplemented-deflate":
            global ALLOW_UNIMPLEMENTED_DEFLATE
            ALLOW_UNIMPLEMENTED_DEFLATE = True
            i += 1
            continue
        if arg == "--expect":
            if not pairs or i + 1 >= len(argv):
                raise SystemExit("--expect AGENTS must follow an index path")
            pairs[-1] = (pairs[-1][0], [a for a in argv[i + 1].split(",") if a])
            i += 2
            continue
        if arg in ("-h", "--help") or arg.startswith("-"):
            raise SystemExit(__doc__)
        default = DEFAULT_EXPECT[len(pairs)] if len(pairs) < len(DEFAULT_EXPECT) else None
        pairs.append((arg, default))
        i += 1
    if not pairs:
        raise SystemExit(__doc__)
    for path, expected in pairs:
        if expected is None:
            raise SystemExit(f"{path}: an index after the second needs --expect AGENTS")
    return pairs


def main(argv):
    pairs = parse_args(argv)
    if ALLOW_UNIMPLEMENTED_DEFLATE:
        print("note: UNIMPLEMENTED is allowed for 12.* and 13.* (--allow-unimplemented-deflate)")
    problems = sum(judge_index(path, expected) for path, expected in pairs)
    print()
    if problems:
        print(f"AUTOBAHN VERDICT: FAILED ({problems} failing cases or missing agents)")
        return 1
    print("AUTOBAHN VERDICT: PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
