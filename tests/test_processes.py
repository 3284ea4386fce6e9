"""Worker processes: they die with their parent (SIGKILL or SIGTERM of it),
a killed run resumes to the same dataset, and final files get the umask's
permissions (convml_tt._io: die_with_parent, sigterm_raises, stop_pool)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convml_tt import _io
from convml_tt.data import composites as C
from convml_tt.data.dataset.writer import make_triplets

from synthetic_fixtures import DOMAIN, SMALL, composited_root, files_of  # noqa: F401
REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture(scope="module")
def root(composited_root):
    return composited_root




def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _start_run(root: Path, out: Path, n_train: int) -> subprocess.Popen:
    code = (
        "from convml_tt.data.dataset import make_triplets;"
        f"make_triplets({str(root)!r}, {DOMAIN!r}, {str(out)!r}, n_train={n_train}, n_study=0, seed=5,"
        " workers=2, progress=False, tile_size_m=40e3, tile_pixels=32)"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE)


N_TRAIN = 150  # ~55 triplets/s per process: a run of a few seconds, killed after 4


@pytest.fixture(scope="module")
def reference(root, tmp_path_factory):
    """Files of an uninterrupted run (one process; a dataset does not depend on ``workers``)."""
    out = make_triplets(root, DOMAIN, tmp_path_factory.mktemp("proc_ref") / "ref", n_train=N_TRAIN,
                        n_study=0, seed=5, workers=1, progress=False, tile_size_m=40e3, tile_pixels=32)
    return files_of(out)


def _kill_mid_run(root: Path, out: Path, sig: int, n_train: int = N_TRAIN) -> tuple[int, float]:
    """Start a 2-worker run, send ``sig`` to it once a few triplets exist;
    returns (its exit status, seconds until all its workers were gone)."""
    proc = _start_run(root, out, n_train)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(out.glob("train/*_meta.yaml"))) < 4:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert len(list(out.glob("train/*_meta.yaml"))) >= 4
        workers = {c for c in _children(proc.pid) if "resource_tracker" not in _cmdline(c)}
        assert len(workers) == 2, [_cmdline(c) for c in workers]
        t0 = time.monotonic()
        os.kill(proc.pid, sig)
        while any(_alive(w) for w in workers) and time.monotonic() - t0 < 10:
            time.sleep(0.005)
        gone = time.monotonic() - t0
        rc = proc.wait(30)
        assert not any(_alive(w) for w in workers), f"workers still running {gone:.1f} s after signal {sig}"
        return rc, gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent_and_the_run_resumes(root, reference, tmp_path, sig):
    out = tmp_path / "ds"
    rc, gone = _kill_mid_run(root, out, sig)
    print(f"signal {sig}: exit status {rc}, workers gone after {gone:.3f} s")
    assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM)
    assert gone < 5
    n_done = len(list(out.glob("train/*_meta.yaml")))
    time.sleep(0.5)  # nothing writes any more
    assert len(list(out.glob("train/*_meta.yaml"))) == n_done
    assert n_done < N_TRAIN
    # resume: the same call completes the dataset, equal to an uninterrupted run
    make_triplets(root, DOMAIN, out, n_train=N_TRAIN, n_study=0, seed=5, workers=2, progress=False,
                  tile_size_m=40e3, tile_pixels=32)
    assert files_of(out) == reference


def test_sigterm_raises_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(_io.Terminated) as err:
        with _io.sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert err.value.code == 143 and "SIGTERM" in str(err.value)
    assert signal.getsignal(signal.SIGTERM) is before


def test_die_with_parent_watchdog_without_prctl(tmp_path, monkeypatch):
    # the portable fallback alone: a grandchild whose parent is SIGKILLed exits
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import os, sys, time; from convml_tt import _io; "
        "_io._set_parent_death_signal = lambda sig: False; "
        "_io.die_with_parent(int(sys.argv[1]), poll=0.05); print(os.getpid(), flush=True); time.sleep(60)', "
        "str(os.getpid())], stdout=subprocess.PIPE)\n"
        "print(child.stdout.readline().decode().strip(), flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE)
    try:
        grandchild = int(proc.stdout.readline())
        assert _alive(grandchild)
        proc.kill()
        proc.wait()
        t0 = time.monotonic()
        while _alive(grandchild) and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        assert not _alive(grandchild)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_final_files_get_the_umask_permissions(root, tmp_path, umask, mode, synthetic_scenes):
    old = os.umask(umask)
    try:
        out = make_triplets(root, DOMAIN, tmp_path / "ds", n_train=1, seed=1, progress=False, **SMALL)
        nc = C.make_composite(synthetic_scenes[0].files, DOMAIN, out_path=tmp_path / "c" / "X.nc")
        assert nc is not None
        written = [out / "train" / "00000_anchor.png", out / "train" / "00000_meta.yaml",
                   out / "meta.yaml", tmp_path / "c" / "X.nc"]
        for p in written:
            assert p.stat().st_mode & 0o777 == mode, (p, oct(p.stat().st_mode))
    finally:
        os.umask(old)


def test_write_bytes_replaces_atomically_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "t.png"
    target.write_bytes(b"old")
    _io.write_bytes(target, memoryview(b"new bytes"), mkdir=False)
    assert target.read_bytes() == b"new bytes"
    with pytest.raises(TypeError):
        _io.write_bytes(target, object(), mkdir=False)  # fails after its temporary file is made
    assert target.read_bytes() == b"new bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.png"]
