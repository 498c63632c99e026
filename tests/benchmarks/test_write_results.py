"""RESULTS.md's code line per table: the commit of its runs and whether seal/ changed since
(benchmarks/write_results.py)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import write_results  # noqa: E402

TABLE = "Command: `x`  \nSeeds: [1]  \nCode: seal/ as of commit `5555555555`; runs made at `aaaaaaaaaa`  \n\n| a |"


def test_a_table_made_before_a_change_to_seal_is_marked_stale_with_the_commits_since():
    line = write_results.freshness({"recorded_in_commit": "d" * 40}, ["abc1234", "def5678"])
    assert line == ("**Stale:** runs made at or before `dddddddddd`; seal/ changed since (commits abc1234, def5678); "
                    "not yet rerun on main  ")


def test_a_table_of_the_current_seal_says_so_and_names_uncommitted_changes():
    version = {"seal_commit": "5" * 40, "seal_dirty": True, "commits": ["a" * 40]}
    assert write_results.freshness(version, []) == (
        "Code: runs made with seal/ at `5555555555` plus uncommitted changes; seal/ unchanged since  ")
    assert "unknown (not a git checkout)" in write_results.freshness(version, None)


def test_the_code_line_of_the_table_is_replaced_or_put_above_it():
    assert write_results.with_freshness(TABLE, "L").split("\n")[2] == "L"
    assert write_results.with_freshness("| a |", "L") == "L\n\n| a |"
    assert write_results.with_freshness(TABLE, None) == TABLE


def test_seal_changes_since_head_are_none_and_an_unknown_commit_gives_none():
    root = os.path.dirname(write_results.BENCHMARKS)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    assert write_results.seal_changes_since(head) == []
    assert write_results.seal_changes_since("0" * 40) is None
