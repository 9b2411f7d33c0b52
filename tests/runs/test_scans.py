"""Layer scans started from the dashboard: a background process per teacher and data, its state read back."""

import time

from distill_core.runs import scans


def _wait(key: str, seconds: float = 120) -> scans.ScanState:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = scans.state(key)
        if current.status != "running":
            return current
        time.sleep(0.5)
    raise AssertionError("the scan did not end in time")


def test_a_scan_runs_in_its_own_process_and_is_found_again_for_another_student(tiny_config):
    config = tiny_config.replace(max_length=16)
    key = scans.scan_key(config)
    assert scans.state(key).status == "none"
    assert scans.start(config) == key
    done = _wait(key)
    assert done.status == "done", done.error
    assert len(done.scan["influence"]) == 4 and done.scan["texts"] == 64
    assert (scans.scan_folder(key) / "config.json").exists()
    # The same teacher and data with another student: the same scan, not a new process.
    other = config.replace(student=config.student.__class__(kind="keep-layers", num_layers=3))
    assert scans.scan_key(other) == key and scans.start(other) == key and scans.state(key).status == "done"


def test_a_failed_scan_keeps_its_message(tiny_config, tmp_path):
    config = tiny_config.replace(teacher=tiny_config.teacher.__class__(model=str(tmp_path / "no-such-teacher")))
    key = scans.start(config)
    failed = _wait(key)
    assert failed.status == "failed" and "no-such-teacher" in failed.error
