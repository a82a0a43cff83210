#!/usr/bin/env python3
"""Runs every built libFuzzer target (build/fuzz/fuzz_<name>) for a while.

For each target: the saved crash inputs in src/cpp/tests/fuzz/regressions/<name>/ are
replayed first (they must no longer crash), then the target fuzzes for --seconds
starting from a temporary copy of its committed seeds (corpus/<name>/), so runs never
write into git, with the dictionary dict/<name>.dict when there is one. Any crash, timeout, OOM or leak is kept under
<build-dir>/artifacts/<name>/ and printed with the command that reproduces it; the
exit status is then 1 (2 when there is nothing to run).

    python3 src/cpp/tests/fuzz/run_all.py --build-dir build/fuzz --seconds 30
    python3 src/cpp/tests/fuzz/run_all.py --seconds 10 --only http_parser,ws_frame
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))

# Largest input per target: long enough for several frames / a pipelined request,
# short enough that every-prefix checks stay fast.
MAX_LEN = {
    "ws_frame": 4096,
    "ws_utf8": 1024,
    "ws_deflate": 4096,
    "ws_handshake": 2048,
    "http_parser": 2048,
    "sse_encoder": 1024,
    "sse_replay": 1024,
}
DEFAULT_MAX_LEN = 2048
STATUS_RE = re.compile(r"^#(\d+)\s+(?:pulse|NEW|REDUCE|INITED)?.*?cov: (\d+).*?corp: (\d+)/\S+.*?exec/s: (\d+)")
ARTIFACT_RE = re.compile(r"Test unit written to (\S+)")


def rel(path):
    """Relative to the current directory when inside it (shorter to paste)."""
    path = os.path.abspath(path)
    cwd = os.getcwd()
    return os.path.relpath(path, cwd) if path.startswith(cwd + os.sep) else path


def find_targets(build_dir, only):
    names = []
    if os.path.isdir(build_dir):
        for f in sorted(os.listdir(build_dir)):
            p = os.path.join(build_dir, f)
            if f.startswith("fuzz_") and os.path.isfile(p) and os.access(p, os.X_OK):
                names.append(f[len("fuzz_"):])
    if only:
        wanted = set(only)
        missing = wanted - set(names)
        if missing:
            print("run_all: not built: %s" % ", ".join(sorted(missing)), file=sys.stderr)
        names = [n for n in names if n in wanted]
    return names


def replay_regressions(binary, name, artifacts):
    """Runs the saved crash inputs once each; returns a list of failures."""
    d = os.path.join(HERE, "regressions", name)
    if not os.path.isdir(d):
        return []
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith("."))
    files = [f for f in files if os.path.isfile(f)]
    failures = []
    for f in files:
        r = subprocess.run([binary, "-runs=1", "-artifact_prefix=%s/" % artifacts, f],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        if r.returncode != 0:
            tail = "\n".join(r.stdout.splitlines()[-15:])
            failures.append((f, tail))
    print("  regressions: %d replayed, %d failing" % (len(files), len(failures)), flush=True)
    return failures


def fuzz(binary, name, seconds, work_corpus, seeds, artifacts, extra):
    max_len = MAX_LEN.get(name, DEFAULT_MAX_LEN)
    cmd = [binary, work_corpus, "-max_total_time=%d" % seconds, "-max_len=%d" % max_len,
           "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
           "-artifact_prefix=%s/" % artifacts] + extra
    dict_file = os.path.join(HERE, "dict", name + ".dict")
    if os.path.isfile(dict_file):  # protocol edge values (close codes, UTF-8 edges, header names)
        cmd.insert(2, "-dict=%s" % dict_file)
    if os.path.isdir(seeds):
        cmd.append(seeds)  # read-only second corpus: new units go to the first one only
    start = time.monotonic()
    last_print = 0.0
    status = ""
    artifact = None
    log_tail = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    for line in proc.stdout:
        line = line.rstrip("\n")
        log_tail.append(line)
        del log_tail[:-40]
        m = STATUS_RE.match(line)
        if m:
            status = "execs %s, cov %s, corpus %s, %s exec/s" % m.groups()
        a = ARTIFACT_RE.search(line)
        if a:
            artifact = a.group(1)
        now = time.monotonic()
        if status and now - last_print >= 5:
            print("  [%3ds/%ds] %s" % (now - start, seconds, status), flush=True)
            last_print = now
    rc = proc.wait()
    stats = {}
    for line in log_tail:
        m = re.match(r"stat::(\w+):\s+(\d+)", line)
        if m:
            stats[m.group(1)] = m.group(2)
    return rc, artifact, log_tail, stats, cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "fuzz"))
    ap.add_argument("--seconds", type=int, default=30, help="fuzzing time per target")
    ap.add_argument("--only", default="", help="comma-separated target names (default: all built)")
    ap.add_argument("--keep-corpus", default="", help="copy each grown working corpus to DIR/<name>/")
    ap.add_argument("libfuzzer_args", nargs="*", help="extra libFuzzer flags after --, e.g. -- -jobs=2")
    args = ap.parse_args()

    build_dir = os.path.abspath(args.build_dir)
    only = [s for s in args.only.split(",") if s]
    targets = find_targets(build_dir, only)
    if not targets:
        print("run_all: no fuzz_* binaries in %s (build with `make fuzz`)" % rel(build_dir), file=sys.stderr)
        return 2

    print("run_all: %d targets, %d s each: %s" % (len(targets), args.seconds, ", ".join(targets)), flush=True)
    failures = []
    summary = []
    for i, name in enumerate(targets, 1):
        binary = os.path.join(build_dir, "fuzz_" + name)
        artifacts = os.path.join(build_dir, "artifacts", name)
        os.makedirs(artifacts, exist_ok=True)
        seeds = os.path.join(HERE, "corpus", name)
        print("[%d/%d] fuzz_%s (seeds: %s)" % (i, len(targets), name,
              rel(seeds) if os.path.isdir(seeds) else "none"), flush=True)
        for path, tail in replay_regressions(binary, name, artifacts):
            failures.append((name, path, "regression input still fails", tail, [binary, path]))
        with tempfile.TemporaryDirectory(prefix="fuzz_%s_" % name) as work:
            rc, artifact, tail, stats, cmd = fuzz(binary, name, args.seconds, work, seeds, artifacts,
                                                  args.libfuzzer_args)
            if args.keep_corpus:
                dest = os.path.join(args.keep_corpus, name)
                os.makedirs(dest, exist_ok=True)
                for f in os.listdir(work):
                    shutil.copy2(os.path.join(work, f), dest)
        execs = stats.get("number_of_executed_units", "?")
        if rc != 0 or artifact:
            kind = os.path.basename(artifact).split("-")[0] if artifact else "exit %d" % rc
            failures.append((name, artifact, kind, "\n".join(tail[-25:]), [binary, artifact or ""]))
            summary.append("%-14s FAILED (%s) after %s runs" % (name, kind, execs))
            print("  FAILED: %s" % kind, flush=True)
        else:
            summary.append("%-14s ok, %s runs" % (name, execs))
            print("  ok: %s runs" % execs, flush=True)

    print("\nsummary:")
    for s in summary:
        print("  " + s)
    if not failures:
        print("run_all: no crashes")
        return 0
    print("\nrun_all: %d failure(s)" % len(failures))
    for name, path, kind, tail, repro in failures:
        print("\n=== %s: %s ===" % (name, kind))
        print(tail)
        print("input:      %s" % (rel(path) if path else "(none written)"))
        print("reproduce:  %s %s" % (rel(repro[0]), rel(repro[1]) if repro[1] else ""))
        if path and kind != "regression input still fails":
            print("keep it:    cp %s src/cpp/tests/fuzz/regressions/%s/" % (rel(path), name))
    return 1


if __name__ == "__main__":
    sys.exit(main())
