#!/usr/bin/env python3
"""Tests of verdict.py on synthetic index.json files.

    python3 tests/autobahn/test_verdict.py
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verdict  # noqa: E402

AGENTS = ["tidings-tokio", "tidings-async-std", "tidings-smol"]


def case(behavior, close="OK"):
    return {"behavior": behavior, "behaviorClose": close, "duration": 1, "reportfile": "x.json"}


def good_cases():
    """A plausible full result: OK (deflate included), a few INFORMATIONAL."""
    cases = {f"1.1.{i}": case("OK") for i in range(1, 9)}
    cases["7.1.6"] = case("INFORMATIONAL")
    cases["7.13.1"] = case("INFORMATIONAL", "INFORMATIONAL")
    cases["12.1.1"] = case("OK")
    cases["13.7.18"] = case("OK")
    return cases


def without_deflate():
    """good_cases() from a peer without permessage-deflate."""
    cases = good_cases()
    cases["12.1.1"] = case("UNIMPLEMENTED", "UNIMPLEMENTED")
    cases["13.7.18"] = case("UNIMPLEMENTED", "UNIMPLEMENTED")
    return cases


class VerdictTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        # --allow-unimplemented-deflate sets the module's switch; undo it.
        old = verdict.ALLOW_UNIMPLEMENTED_DEFLATE
        verdict.ALLOW_UNIMPLEMENTED_DEFLATE = False
        self.addCleanup(setattr, verdict, "ALLOW_UNIMPLEMENTED_DEFLATE", old)

    def write(self, name, index):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(index, f)
        return path

    def run_verdict(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = verdict.main(list(args))
        return rc, out.getvalue()

    def test_all_good_passes_with_summary_per_agent(self):
        path = self.write("s.json", {a: good_cases() for a in AGENTS})
        rc, out = self.run_verdict(path)
        self.assertEqual(rc, 0, out)
        for agent in AGENTS:
            self.assertIn(f"{agent}: 12 cases: 10 OK, 2 INFORMATIONAL, 0 failed", out)
        self.assertIn("AUTOBAHN VERDICT: PASSED", out)

    def test_non_strict_fails_and_is_listed(self):
        index = {a: good_cases() for a in AGENTS}
        index["tidings-smol"]["6.4.3"] = case("NON-STRICT")
        rc, out = self.run_verdict(self.write("s.json", index))
        self.assertEqual(rc, 1, out)
        self.assertIn("tidings-smol: 13 cases: 10 OK, 2 INFORMATIONAL, 1 failed", out)
        self.assertIn("FAIL 6.4.3: behavior=NON-STRICT behaviorClose=OK", out)
        self.assertIn("tidings-tokio: 12 cases", out)

    def test_bad_close_behavior_alone_fails(self):
        for bad in ("WRONG CODE", "UNCLEAN", "FAILED", "FAILED BY CLIENT", "NON-STRICT"):
            index = {a: good_cases() for a in AGENTS}
            index["tidings-tokio"]["7.3.1"] = case("OK", bad)
            rc, out = self.run_verdict(self.write("s.json", index))
            self.assertEqual(rc, 1, bad)
            self.assertIn(f"FAIL 7.3.1: behavior=OK behaviorClose={bad}", out)

    def test_unimplemented_outside_deflate_fails(self):
        index = {a: good_cases() for a in AGENTS}
        index["tidings-async-std"]["5.1"] = case("UNIMPLEMENTED", "UNIMPLEMENTED")
        rc, out = self.run_verdict(self.write("s.json", index))
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL 5.1: behavior=UNIMPLEMENTED behaviorClose=UNIMPLEMENTED", out)

    def test_case_id_prefix_is_exact(self):
        # "1.2.*" is not deflate even though it contains "2."; "120.1" is not "12.".
        index = {a: good_cases() for a in AGENTS}
        index["tidings-tokio"]["1.12.1"] = case("UNIMPLEMENTED")
        rc, _ = self.run_verdict(self.write("s.json", index))
        self.assertEqual(rc, 1)

    def test_unimplemented_deflate_fails_by_default(self):
        path = self.write("s.json", {a: without_deflate() for a in AGENTS})
        rc, out = self.run_verdict(path)
        self.assertEqual(rc, 1)
        self.assertIn("FAIL 12.1.1: behavior=UNIMPLEMENTED", out)
        self.assertIn("FAIL 13.7.18: behavior=UNIMPLEMENTED", out)

    def test_flag_allows_unimplemented_deflate_only(self):
        index = {a: without_deflate() for a in AGENTS}
        path = self.write("s.json", index)
        rc, out = self.run_verdict("--allow-unimplemented-deflate", path)
        self.assertEqual(rc, 0, out)
        self.assertIn("8 OK, 2 INFORMATIONAL, 2 UNIMPLEMENTED (12.*, 13.*), 0 failed", out)
        index["tidings-tokio"]["5.1"] = case("UNIMPLEMENTED")
        rc, out = self.run_verdict("--allow-unimplemented-deflate", self.write("s.json", index))
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL 5.1: behavior=UNIMPLEMENTED", out)

    def test_missing_agent_fails(self):
        index = {a: good_cases() for a in AGENTS if a != "tidings-smol"}
        rc, out = self.run_verdict(self.write("s.json", index))
        self.assertEqual(rc, 1, out)
        self.assertIn("tidings-smol: MISSING", out)

    def test_agent_with_no_cases_fails(self):
        index = {a: good_cases() for a in AGENTS}
        index["tidings-tokio"] = {}
        rc, out = self.run_verdict(self.write("s.json", index))
        self.assertEqual(rc, 1, out)
        self.assertIn("tidings-tokio: 0 cases", out)

    def test_second_index_defaults_to_tokio_client_and_expect_overrides(self):
        servers = self.write("s.json", {a: good_cases() for a in AGENTS})
        clients = self.write("c.json", {"tidings-tokio": good_cases()})
        self.assertEqual(self.run_verdict(servers, clients)[0], 0)
        rc, out = self.run_verdict(servers, clients, "--expect", "tidings-tokio,tidings-smol")
        self.assertEqual(rc, 1)
        self.assertIn("tidings-smol: MISSING", out)
        self.assertEqual(self.run_verdict(clients, "--expect", "tidings-tokio")[0], 0)

    def test_one_index_per_server_needs_expect_after_the_second(self):
        per_agent = [self.write(f"{a}.json", {a: good_cases()}) for a in AGENTS]
        clients = self.write("c.json", {"tidings-tokio": good_cases()})
        args = []
        for path, agent in zip(per_agent, AGENTS):
            args += [path, "--expect", agent]
        self.assertEqual(self.run_verdict(*args, clients, "--expect", "tidings-tokio")[0], 0)
        with self.assertRaises(SystemExit) as refused:
            self.run_verdict(*args, clients)
        self.assertIn("needs --expect", str(refused.exception))
        broken = {AGENTS[2]: good_cases()}
        broken[AGENTS[2]]["12.1.10"] = case("UNIMPLEMENTED")
        args[-3] = self.write("broken.json", broken)
        rc, out = self.run_verdict(*args, clients, "--expect", "tidings-tokio")
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL 12.1.10", out)

    def test_unreadable_index_fails(self):
        rc, out = self.run_verdict(os.path.join(self.dir.name, "nope.json"))
        self.assertEqual(rc, 1)
        self.assertIn("cannot read", out)

    def test_failures_sorted_numerically(self):
        index = {a: good_cases() for a in AGENTS}
        index["tidings-tokio"]["9.10.1"] = case("FAILED")
        index["tidings-tokio"]["9.2.1"] = case("FAILED")
        _, out = self.run_verdict(self.write("s.json", index))
        self.assertLess(out.index("FAIL 9.2.1"), out.index("FAIL 9.10.1"))


if __name__ == "__main__":
    unittest.main()
