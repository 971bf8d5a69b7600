#!/usr/bin/env bash
# Measures frechet and PyTorch on the design's workloads W1 to W6 in the same run and
# writes BENCHMARKS.md at the repository root (issues 7 and 18): samples/s (latency for
# inference), the ratio to PyTorch, and the share of the single-core FMA peak that a
# probe measures in the same run.
#
# The measurement is made once per instruction-set pass. On a CPU with AVX-512 (F and
# VL) there are two: `avx512`, the machine as it is, on 1 and 2 threads, and `avx2`, on
# 1 thread, with both frameworks held to AVX2 (FRECHET_ISA=avx2 for frechet;
# ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS for PyTorch) to
# stand in for an AVX2 machine. On an AVX2 CPU there is one, `avx2`, on 1 and 2 threads.
#
#   tools/bench.sh                  # 5 rounds, 1 s timed per row: about 15 minutes
#                                   # with AVX-512 (3 blocks a round), 10 without (2)
#   ROUNDS=1 SECONDS_PER_ROW=0.5 tools/bench.sh     # a quick look, about 2.5 minutes
#
# Environment:
#   PYTHON           the venv's python with torch (default: ../venv/bin/python)
#   ISAS             the passes, widest first (default: avx512 avx2 on an AVX-512 CPU,
#                    avx2 on an AVX2 one; generic is allowed too); the first pass runs
#                    on 1 and 2 threads, the others on 1
#   ROUNDS           repetitions of the whole measurement (default 5); the table quotes
#                    the median of the rounds' medians and their spread
#   SECONDS_PER_ROW  timed seconds per row and framework (default 1.0)
#   WARMUP_PER_ROW   untimed seconds per row before timing (default 0.5)
#   WAIT_IDLE        wait up to this many seconds for the CPUs to be idle before the
#                    run (default 120)
#   WAIT_IDLE_BLOCK  and before each measurement block (default 60); the report says
#                    how busy the rest of the machine was during each block
#   OUT              the report to write (default BENCHMARKS.md)
#   REPORT_ONLY=1    only rewrite the report from the last run's target/bench/
#
# frechet is measured by examples/bench_workloads.rs (RAYON_NUM_THREADS=n) and PyTorch
# by tools/bench_torch.py (torch.set_num_threads(n)), both with the same estimator:
# median over ~2 ms blocks of the time per step after a warm-up. Both print, on every
# row, the instruction sets their kernels ran with, so that a pass whose environment did
# not take shows in the report. The raw JSON lines go to target/bench/. The criterion
# benches (cargo bench --bench workloads) measure the same frechet workloads for
# development, with criterion's statistics and baselines.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-$(cd "$ROOT/.." && pwd)/venv/bin/python}
ROUNDS=${ROUNDS:-5}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-1.0}
WARMUP_PER_ROW=${WARMUP_PER_ROW:-0.5}
WAIT_IDLE=${WAIT_IDLE:-120}
WAIT_IDLE_BLOCK=${WAIT_IDLE_BLOCK:-60}
OUT=${OUT:-BENCHMARKS.md}
RAW=$ROOT/target/bench
mkdir -p "$RAW"
RESULTS=$RAW/results.jsonl
META=$RAW/meta.json

if [[ ! -x /usr/bin/time ]]; then
    echo "error: /usr/bin/time is missing (apt-get install time)" >&2
    exit 1
fi
if [[ ! -x $PYTHON ]]; then
    echo "error: no python at $PYTHON; set PYTHON to a venv's python with torch" >&2
    exit 1
fi

log() { echo "[bench] $*" >&2; }

# The instruction-set switches of both frameworks, cleared so that the machine's own
# pass really runs as the machine is, whatever the calling shell had set.
unset FRECHET_ISA ATEN_CPU_CAPABILITY ONEDNN_MAX_CPU_ISA MKL_ENABLE_INSTRUCTIONS

CPU_FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2-) "
has_flags() {
    local flag
    for flag in "$@"; do [[ $CPU_FLAGS == *" $flag "* ]] || return 1; done
}

# The widest path this CPU has, as frechet::Isa::detected decides it.
if has_flags avx2 fma avx512f avx512vl; then
    WIDEST=avx512
elif has_flags avx2 fma; then
    WIDEST=avx2
else
    WIDEST=generic
fi
if [[ -z ${ISAS:-} ]]; then
    case $WIDEST in
        avx512) ISAS="avx512 avx2" ;;
        *) ISAS=$WIDEST ;;
    esac
fi
rank() { case $1 in generic) echo 0 ;; avx2) echo 1 ;; avx512) echo 2 ;; *) echo -1 ;; esac; }
for isa in $ISAS; do
    if (( $(rank "$isa") < 0 )); then
        echo "error: ISAS has \"$isa\"; the passes are avx512, avx2 and generic" >&2
        exit 1
    fi
    if (( $(rank "$isa") > $(rank "$WIDEST") )); then
        echo "error: ISAS asks for $isa, but this CPU's widest is $WIDEST" >&2
        exit 1
    fi
done

# The environment of a pass, for both frameworks: nothing for the machine's own
# instruction set; for a narrower one, frechet's switch and PyTorch's three (ATen's own
# kernels, oneDNN's convolutions, MKL's matrix products).
pass_env() {
    [[ $1 == "$WIDEST" ]] && return 0
    case $1 in
        avx2) echo FRECHET_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
            MKL_ENABLE_INSTRUCTIONS=AVX2 ;;
        generic) echo FRECHET_ISA=generic ATEN_CPU_CAPABILITY=default \
            ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 ;;
    esac
}

# Tags every JSON line of stdin with the JSON fields $1 (framework, pass, round, threads).
tag() {
    "$PYTHON" -c '
import json, sys
extra = json.loads(sys.argv[1])
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        row = json.loads(line)
        row.update(extra)
        print(json.dumps(row), flush=True)
' "$1" >>"$RESULTS"
}

# The busy share of all CPUs over one second, in percent, from /proc/stat.
busy_percent() {
    local a b
    a=($(head -1 /proc/stat))
    sleep 1
    b=($(head -1 /proc/stat))
    local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

if [[ ${REPORT_ONLY:-0} != 1 ]]; then
: >"$RESULTS" # the measurements, up to the matching "fi # REPORT_ONLY"
log "building examples/bench_workloads (release)"
cargo build --release --example bench_workloads >&2
# Where cargo put it: CARGO_TARGET_DIR or a cargo config may move the target directory.
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release/examples/bench_workloads

# Waits up to $1 seconds for the CPUs to be less than 10% busy; leaves the last
# reading in $busy.
wait_quiet() {
    local waited=0
    busy=$(busy_percent)
    while (( busy > 10 && waited < $1 )); do
        log "CPUs ${busy}% busy; waiting for quiet ($waited/$1 s)"
        sleep 4
        waited=$(( waited + 5 ))
        busy=$(busy_percent)
    done
}

wait_quiet "$WAIT_IDLE"
BUSY_START=$busy
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%s)
log "CPUs ${busy}% busy at start (load $LOAD_START); passes: $ISAS"

# The busy jiffies of all CPUs so far, from /proc/stat.
busy_jiffies() {
    local a
    a=($(head -1 /proc/stat))
    echo $(( a[1] + a[2] + a[3] + a[6] + a[7] + a[8] ))
}

# Runs a measurement (the command after the JSON fields $1), tags its lines with $1, and
# records how much CPU the rest of the machine used meanwhile: the busy time of all CPUs
# less the measurement's own, as a share of the CPUs' time.
run_block() {
    local fields=$1 before after wall user sys
    shift
    before=$(busy_jiffies)
    /usr/bin/time -f '%e %U %S' -o "$RAW/block-time.txt" "$@" | tag "{$fields}"
    after=$(busy_jiffies)
    read -r wall user sys <"$RAW/block-time.txt"
    "$PYTHON" -c '
import json, sys
busy, hz, cpus, wall, user, sys_ = map(float, sys.argv[1:7])
foreign = max(0.0, busy / hz - user - sys_) / (wall * cpus)
print(json.dumps({"id": "foreign_load", "percent": round(100 * foreign, 1), "wall_s": wall}))
' $(( after - before )) "$(getconf CLK_TCK)" "$(nproc)" "$wall" "$user" "$sys" | tag "{$fields}"
}

# The single-core FMA peak, AVX2 and AVX-512, with a small C probe when a C compiler is
# there: the ceiling the % of peak columns compare with.
fma_peak() {
    local cc
    cc=$(command -v cc || command -v gcc || true)
    [[ -n $cc ]] || return 0
    cat >"$RAW/fma_peak.c" <<'C'
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#define CHAINS 12 /* independent FMA chains: enough to cover latency × throughput */
#define PEAK(NAME, TARGET, VEC, SET1, FMA, STORE, LANES)                                  \
    __attribute__((target(TARGET))) static double NAME(long iterations) {               \
        VEC a[CHAINS], b = SET1(0.9999999f), c = SET1(1e-7f);                            \
        for (int i = 0; i < CHAINS; i++) a[i] = SET1((float)i);                           \
        double t = now();                                                                 \
        for (long k = 0; k < iterations; k++)                                             \
            _Pragma("GCC unroll 12") for (int i = 0; i < CHAINS; i++) a[i] = FMA(a[i], b, c); \
        t = now() - t;                                                                    \
        float out[16], sum = 0;                                                           \
        for (int i = 0; i < CHAINS; i++) { STORE(out, a[i]); sum += out[0]; }             \
        if (sum == 12345.0f) puts("");                                                    \
        return 2.0 * LANES * CHAINS * iterations / t / 1e9;                               \
    }
PEAK(avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps, 8)
PEAK(avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps, 16)
int main(void) {
    __builtin_cpu_init();
    for (int r = 0; r < 5; r++) {
        printf("{\"id\": \"fma_peak\", \"avx2_gflops\": %.1f", __builtin_cpu_supports("avx2") ? avx2(50000000) : 0.0);
        printf(", \"avx512_gflops\": %.1f}\n", __builtin_cpu_supports("avx512f") ? avx512(50000000) : 0.0);
    }
    return 0;
}
C
    if "$cc" -O3 -o "$RAW/fma_peak" "$RAW/fma_peak.c" 2>"$RAW/fma_peak.log"; then
        "$RAW/fma_peak" | tag '{"framework": "check"}'
    else
        log "could not build the FMA probe (see $RAW/fma_peak.log); no peak in the report"
    fi
}

# Runs the 1-vs-2-thread compute-loop check before the 2-thread block of round $1 and
# pass $2, up to 3 times while it is below 1.8.
cores_check() {
    local round=$1 isa=$2 try out speedup
    for try in 1 2 3; do
        out=$("$BIN" cores)
        echo "$out" | tag "{\"framework\": \"check\", \"round\": $round, \"isa_pass\": \"$isa\", \"try\": $try}"
        speedup=$(echo "$out" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["speedup_2_threads"])')
        log "round $round, $isa: 2 threads do ${speedup}x the work of 1 (try $try)"
        if "$PYTHON" -c "import sys; sys.exit(0 if $speedup >= 1.8 else 1)"; then
            return
        fi
        sleep 5
    done
    log "warning: the second core does not seem to be scheduled fully"
}

log "single-core FMA peak"
fma_peak

FIRST_PASS=${ISAS%% *}
for round in $(seq 1 "$ROUNDS"); do
    for isa in $ISAS; do
        # The first pass on 1 and 2 threads, the narrowed ones on 1: the share of the
        # peak is a one-core question, and a third 2-thread block would add a third to
        # the run time.
        thread_counts=1
        if [[ $isa == "$FIRST_PASS" ]]; then thread_counts="1 2"; fi
        for threads in $thread_counts; do
            if (( threads == 2 )); then
                wait_quiet "$WAIT_IDLE_BLOCK"
                cores_check "$round" "$isa"
            fi
            extra="\"round\": $round, \"isa_pass\": \"$isa\", \"requested_threads\": $threads"
            # Alternate which framework goes first, so that drift hits both alike.
            order="frechet torch"
            if (( round % 2 == 0 )); then order="torch frechet"; fi
            for framework in $order; do
                wait_quiet "$WAIT_IDLE_BLOCK"
                log "round $round/$ROUNDS, $isa, $threads thread(s): $framework"
                if [[ $framework == frechet ]]; then
                    run_block "$extra, \"framework\": \"frechet\"" \
                        env $(pass_env "$isa") RAYON_NUM_THREADS="$threads" \
                        "$BIN" speed --seconds "$SECONDS_PER_ROW" --warmup "$WARMUP_PER_ROW"
                else
                    run_block "$extra, \"framework\": \"torch\"" \
                        env $(pass_env "$isa") "$PYTHON" tools/bench_torch.py \
                        speed --threads "$threads" --seconds "$SECONDS_PER_ROW" \
                        --warmup "$WARMUP_PER_ROW"
                fi
            done
        done
    done
done

# Memory does not depend on the instruction set: measured once, in the first pass.
for threads in 1 2; do
    log "peak RSS, W1 batch 128, 500 steps, $threads thread(s)"
    fields="\"isa_pass\": \"$FIRST_PASS\", \"requested_threads\": $threads"
    # frechet: the whole process's peak, from the kernel (time -v) and from VmHWM.
    env $(pass_env "$FIRST_PASS") RAYON_NUM_THREADS=$threads \
        /usr/bin/time -v "$BIN" rss 2>"$RAW/time-v.txt" \
        | tag "{\"framework\": \"frechet\", $fields}"
    kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$RAW/time-v.txt")
    echo "{\"id\": \"w1_rss_time_v\", \"peak_rss_kib\": $kib}" \
        | tag "{\"framework\": \"frechet\", $fields}"
    env $(pass_env "$FIRST_PASS") "$PYTHON" tools/bench_torch.py rss --threads "$threads" \
        | tag "{\"framework\": \"torch\", $fields}"
done

BUSY_END=$(busy_percent)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date -u +%s) - STARTED ))

cpuinfo() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
TORCH_INFO=$("$PYTHON" tools/bench_torch.py version)
cat >"$META" <<JSON
{
  "cpu": "$(cpuinfo 'model name')",
  "cpu_id": "$(cpuinfo vendor_id) family $(cpuinfo 'cpu family') model $(cpuinfo 'model[[:space:]]*:') stepping $(cpuinfo stepping)",
  "cpus": $(nproc),
  "cpu_mhz": "$(cpuinfo 'cpu MHz')",
  "simd": "$(for f in fma avx2 avx512f avx512vl avx512_fp16 amx_tile; do if has_flags $f; then echo -n "$f "; fi; done | sed 's/ $//')",
  "widest_isa": "$WIDEST",
  "passes": "$ISAS",
  "pass_env": {$(sep=; for isa in $ISAS; do echo -n "$sep\"$isa\": \"$(pass_env "$isa")\""; sep=", "; done)},
  "hypervisor": "$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor: *//p')",
  "memory_gib": $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo),
  "kernel": "$(uname -r)",
  "rustc": "$(rustc --version)",
  "rustflags": "${RUSTFLAGS:-}",
  "python": "$("$PYTHON" -c 'import platform; print(platform.python_version())')",
  "torch_info": $TORCH_INFO,
  "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "dirty": $(if [[ -n $(git status --porcelain 2>/dev/null) ]]; then echo true; else echo false; fi),
  "rounds": $ROUNDS,
  "seconds_per_row": $SECONDS_PER_ROW,
  "warmup_per_row": $WARMUP_PER_ROW,
  "busy_start": $BUSY_START,
  "busy_end": $BUSY_END,
  "load_start": "$LOAD_START",
  "load_end": "$LOAD_END",
  "elapsed_s": $ELAPSED
}
JSON

fi # REPORT_ONLY

"$PYTHON" - "$RESULTS" "$META" "$OUT" <<'PY'
import json
import statistics
import sys

results_path, meta_path, out_path = sys.argv[1:]
rows = [json.loads(line) for line in open(results_path)]
meta = json.load(open(meta_path))
if "passes" not in meta:
    sys.exit("target/bench/ comes from an older tools/bench.sh: rerun it without REPORT_ONLY")
PASSES = meta["passes"].split()
WIDEST = meta["widest_isa"]
ISA_NAME = {"avx512": "AVX-512", "avx2": "AVX2", "generic": "generic"}


# --- The work of a row, from the networks' shapes -------------------------------------

def conv(in_c, out_c, k, out_hw):
    """FLOP per sample of a k×k convolution with a square out_hw × out_hw output."""
    return 2 * out_hw * out_hw * out_c * in_c * k * k


def dense(n_in, n_out):
    """FLOP per sample of a dense layer."""
    return 2 * n_in * n_out


# The layers that multiply and add, in order (benches/nets/mod.rs); activations, pools,
# BatchNorm, biases and the loss are not counted, so W6 counts as W3.
LAYERS = {
    "W1": [dense(784, 128), dense(128, 10)],
    "W2": [dense(784, 512), dense(512, 512), dense(512, 10)],
    "W3": [conv(1, 6, 5, 24), conv(6, 16, 5, 8), dense(256, 120), dense(120, 84),
           dense(84, 10)],
    "W4": [conv(1, 32, 3, 26), conv(32, 64, 3, 24), dense(9216, 128), dense(128, 10)],
    "W5": [conv(1, 32, 3, 26), conv(32, 64, 3, 11), dense(1600, 10)],
}
LAYERS["W6"] = LAYERS["W3"]


def mflop(net, infer):
    """MFLOP per sample. Inference: the forward pass. A training step: the forward pass,
    the weight gradients (as much again) and the input gradients of every layer but the
    first (as much again, less the first layer)."""
    layers = LAYERS[net]
    return (sum(layers) if infer else 3 * sum(layers) - layers[0]) / 1e6


# --- The rows and their targets --------------------------------------------------------

# Each row's targets: the ratio to PyTorch (issue 7's, or issue 18's where it sets one;
# W6's is issue 16's "not behind PyTorch") and the share of the single-core FMA peak
# (issue 18), None where there is none.
TABLE = [
    ("w1_train_b1", 10, None),
    ("w1_train_b32", 2, None),
    ("w1_train_b128", 1.4, None),
    ("w1_train_b1024", 1, 85),
    ("w2_train_b256", 1, 85),
    ("w3_train_b1", 10, None),
    ("w3_train_b32", 3, None),
    ("w3_train_b128", 4, 60),
    ("w4_train_b64", 1.6, 80),
    ("w5_train_b128", 3, 80),
    ("w6_train_b128", 1, None),
    ("w1_infer_b1", 4, None),
    ("w3_infer_b1", 5, None),
    ("w4_infer_b1", 1.6, 80),
    ("w5_infer_b1", 3, 80),
]
RSS_TARGET_MIB = 6
SCALING_TARGET = 1.85  # frechet 2 threads over 1, training at batch ≥ 128
NOT_SLOWER = 0.97      # ... and at batch 1, "not slower" with room for noise
QUIET_PERCENT = 10     # the most the rest of the machine may use during a clean block
CORES_OK = 1.8         # the least the second-core check must give before a 2-thread block


def parse(row_id):
    """("W4", infer, batch) of an id such as w4_train_b64 or w4_infer_b1."""
    net, kind, batch = row_id.split("_")
    return net.upper(), kind == "infer", int(batch[1:])


def label(row_id):
    net, infer, batch = parse(row_id)
    return f"{net} {'inference' if infer else 'train'}, batch {batch}"


def scaling_target(row_id):
    """frechet's 2-thread figure over its 1-thread one must reach this, or None."""
    _, infer, batch = parse(row_id)
    if batch == 1:
        return NOT_SLOWER
    return SCALING_TARGET if batch >= 128 and not infer else None


# --- Reading the measurements -----------------------------------------------------------

def clean(framework, isa_pass, threads, round_):
    """Whether a block ran with the rest of the machine under QUIET_PERCENT busy and,
    with 2 threads, after a second-core check of at least CORES_OK."""
    load = [r["percent"] for r in rows if r["id"] == "foreign_load"
            and r["framework"] == framework and r["isa_pass"] == isa_pass
            and r["requested_threads"] == threads and r["round"] == round_]
    cores_ok = threads == 1 or any(
        r["speedup_2_threads"] >= CORES_OK for r in rows
        if r["id"] == "cores" and r["isa_pass"] == isa_pass and r["round"] == round_)
    return bool(load) and load[0] <= QUIET_PERCENT and cores_ok


def speed_rows(framework, isa_pass, threads, row_id=None):
    """The per-round speed rows of one block (of one row id, if given): those with a
    rate, which training and inference rows both have."""
    return [r for r in rows if "samples_per_s" in r and "round" in r
            and r.get("framework") == framework and r.get("isa_pass") == isa_pass
            and r.get("requested_threads") == threads and row_id in (None, r["id"])]


def figures(framework, isa_pass, threads, row_id):
    """The per-round medians of a row (µs for inference, samples/s for training): those
    of the clean rounds if there are any, else all; and whether they are clean ones."""
    field = "latency_us" if parse(row_id)[1] else "samples_per_s"
    found = speed_rows(framework, isa_pass, threads, row_id)
    quiet = [r for r in found if clean(framework, isa_pass, threads, r["round"])]
    return [r[field] for r in (quiet or found)], bool(quiet)


PROBE = [r for r in rows if r["id"] == "fma_peak"]


def peak(isa_pass):
    """The single-core FMA peak of a pass's instruction set in GFLOP/s, the median of the
    probe's runs; None for the generic pass or without a probe."""
    values = [r[f"{isa_pass}_gflops"] for r in PROBE if r.get(f"{isa_pass}_gflops", 0) > 0]
    return statistics.median(values) if values else None


def close_to(value, target):
    """Within 10% of the target, where one run does not decide."""
    return abs(value / target - 1) < 0.1


def measure(isa_pass, threads, row_id, ratio_target, peak_target):
    """What the tables and the summary say about one row of one block, or None when a
    side was not measured."""
    f, f_clean = figures("frechet", isa_pass, threads, row_id)
    t, t_clean = figures("torch", isa_pass, threads, row_id)
    if not f or not t:
        return None
    net, infer, _ = parse(row_id)
    fm, tm = statistics.median(f), statistics.median(t)
    work = mflop(net, infer)
    # MFLOP per sample × samples/s, or MFLOP per call / µs per call, in GFLOP/s.
    gflops = (lambda m: 1e3 * work / m) if infer else (lambda m: m * work / 1e3)
    core_peak = peak(isa_pass)
    ceiling = core_peak * threads if core_peak else None
    share = (lambda m: 100 * gflops(m) / ceiling) if ceiling else (lambda m: None)
    m = {"f": f, "t": t, "fm": fm, "tm": tm, "f_clean": f_clean, "t_clean": t_clean,
         "infer": infer, "ratio": tm / fm if infer else fm / tm,
         "gflops": (gflops(fm), gflops(tm)), "share": (share(fm), share(tm)),
         "scale": None, "scale_target": None}
    # The targets this row is held to: the ratio always; the share of the peak on one
    # thread (the peak is a one-core figure; two threads have the scaling target).
    m["checks"] = [("ratio", m["ratio"], ratio_target)]
    if peak_target and threads == 1 and ceiling:
        m["checks"].append(("peak", m["share"][0], peak_target))
    if threads == 2:
        f1, _ = figures("frechet", isa_pass, 1, row_id)
        if f1:
            m1 = statistics.median(f1)
            m["scale"] = m1 / fm if infer else fm / m1
            m["scale_target"] = scaling_target(row_id)
    return m


def missed(checks):
    """The (name, value, target) checks whose value falls short of the target."""
    return [c for c in checks if c[1] < c[2]]


def verdict(checks):
    """"yes" when every check is met, else "**no**" with the misses; "close" when the
    verdict rests on a value within 10% of its target."""
    misses = missed(checks)
    close = (all if misses else any)(close_to(v, t) for _, v, t in misses or checks)
    word = "**no**: " + ", ".join(name for name, _, _ in misses) if misses else "yes"
    return word + (", close" if close else "")


def shortfall(check):
    """A missed check in words, such as "peak 69% < 80%"."""
    name, value, target = check
    if name == "ratio":
        return f"ratio {value:.2f}× < {target}×"
    return f"peak {value:.0f}% < {target}%"


# --- Formatting ------------------------------------------------------------------------

def spread(values):
    """Half the range of the rounds' medians over their median, in percent."""
    if len(values) < 2:
        return None
    return 50 * (max(values) - min(values)) / statistics.median(values)


def fmt_spread(values):
    s = spread(values)
    return "—" if s is None else f"±{s:.0f}%"


def fmt(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def fmt_share(v):
    return "—" if v is None else f"{v:.0f}%"


def mib(kib):
    return kib / 1024


def pass_title(isa_pass):
    if isa_pass == WIDEST:
        return f"{ISA_NAME[isa_pass]} (the machine as it is)"
    return f"{ISA_NAME[isa_pass]} ({ISA_NAME[WIDEST]} disabled)"


def threads_title(threads):
    return f"{threads} thread{'s' if threads > 1 else ''}"


def kernels(isa_pass, threads):
    """A sentence on the instruction sets the kernels of a block reported, and whether
    they are the pass's (frechet's `isa`, PyTorch's ATen capability); oneDNN's is
    quoted as it said it."""
    f = speed_rows("frechet", isa_pass, threads)
    t = speed_rows("torch", isa_pass, threads)
    f_isas = sorted({r.get("isa", "unrecorded") for r in f})
    aten = sorted({r.get("isa_aten", "unrecorded") for r in t})
    onednn = sorted({r.get("isa_onednn", "unrecorded") for r in t})
    expected_aten = "default" if isa_pass == "generic" else isa_pass
    ok = f_isas == [isa_pass] and aten == [expected_aten]
    quoted = ", ".join(f'"{name}"' for name in onednn)
    text = (f"Kernels as reported by every row: frechet {', '.join(f_isas)}; PyTorch's ATen "
            f"{', '.join(aten)}, oneDNN {quoted}; MKL cannot be asked.")
    if not ok:
        text += (f" **Not all of them ran {isa_pass}: the environment of this pass did not "
                 "take, and its figures do not measure it.**")
    return text, ok


lines = []
out = lines.append
torch_info = meta["torch_info"]
rss = {(r["framework"], r["requested_threads"], r["id"]): r for r in rows
       if "rss" in r["id"] and "requested_threads" in r}
blocks = sorted({(r["isa_pass"], r["requested_threads"]) for r in rows
                 if r["id"] == "foreign_load"}, key=lambda b: (PASSES.index(b[0]), b[1]))
results = {(p, th, row_id): measure(p, th, row_id, ratio_target, peak_target)
           for p, th in blocks for row_id, ratio_target, peak_target in TABLE}

out("# Benchmarks")
out("")
out("frechet against PyTorch on the design's workloads (issues 7 and 18), measured side by "
    "side in one run of `tools/bench.sh`, with the share of the single-core FMA peak each "
    "reaches. Written by that script: do not edit by hand, rerun it.")
out("")
out("## Machine and versions")
out("")
out(f"- CPU: {meta['cpu']} ({meta['cpu_id']}), {meta['cpus']} cores ({meta['cpu_mhz']} MHz "
    "as reported" + (f", {meta['hypervisor']} guest" if meta["hypervisor"] else "")
    + f"), {meta['memory_gib']} GiB; Linux {meta['kernel']}")
out(f"- Instruction sets: the CPU has {meta['simd']} (flags of `/proc/cpuinfo`), so "
    f"frechet's widest path here is {WIDEST}. Passes run: "
    + "; ".join(f"{p} — {pass_title(p)}, on "
                + " and ".join(str(th) for pp, th in blocks if pp == p)
                + f" thread{'s' if sum(pp == p for pp, _ in blocks) > 1 else ''}"
                for p in PASSES) + ".")
out(f"- {meta['rustc']}; release profile; RUSTFLAGS=`{meta['rustflags']}`"
    + (" (none: baseline x86-64 code, no `target-cpu=native`; the SIMD paths are chosen "
       "at run time)" if not meta["rustflags"] else ""))
out(f"- torch {torch_info['torch']} (pip CUDA wheel, run on the CPU), Python {meta['python']}; "
    + "; ".join(s.strip() for s in torch_info["config"][3:]))
if PROBE:
    def probe(isa):
        values = [r[f"{isa}_gflops"] for r in PROBE]
        if max(values) == 0:
            return f"{ISA_NAME[isa]} not available"
        return (f"{ISA_NAME[isa]} **{statistics.median(values):.0f}** "
                f"({min(values):.0f}–{max(values):.0f})")
    out(f"- Single-core FMA peak, f32, GFLOP/s, the median (and range) of {len(PROBE)} runs "
        "of a C probe built by `tools/bench.sh` in `target/bench/`: "
        f"{probe('avx2')}, {probe('avx512')}. The *% of peak* columns divide by the median "
        "of the pass's instruction set.")
else:
    out("- No FMA probe (no C compiler): no *% of peak* figures.")
out(f"- Date: {meta['date']}; commit {meta['commit']}"
    + (" with uncommitted changes" if meta["dirty"] else ""))
out(f"- Load: CPUs {meta['busy_start']}% busy just before the run "
    f"(load average {meta['load_start']}), {meta['busy_end']}% just after "
    f"(load average {meta['load_end']}); the run took {meta['elapsed_s']} s.")
out("")
out("## How it was measured")
out("")
out("```sh")
out("python3 -m venv ../venv && ../venv/bin/pip install torch   # once")
out("tools/bench.sh                                             # writes BENCHMARKS.md")
out("cargo bench --bench workloads                              # criterion, frechet only")
out("```")
out("")
out("- Workloads (design, \"Performance\"; `benches/nets/mod.rs`): W1 = 784 → Dense 128 → "
    "ReLU → Dense 10; W2 = 784 → Dense 512 → ReLU → Dense 512 → ReLU → Dense 10; W3 = "
    "LeNet-5 exactly as in `examples/mnist_lenet.rs`; W4 = PyTorch's MNIST example net "
    "without its dropout: 1×28×28 → Conv 32 3×3 → ReLU → Conv 64 3×3 → ReLU → MaxPool 2 → "
    "Dense 128 → ReLU → Dense 10; W5 = Keras' simple MNIST convnet without its dropout: "
    "1×28×28 → Conv 32 3×3 → ReLU → MaxPool 2 → Conv 64 3×3 → ReLU → MaxPool 2 → Dense 10; "
    "W6 = W3 with BatchNorm after both convolutions and the first dense layer "
    "(`examples/mnist_batchnorm_lenet.rs` without its dropout). f32, 10 classes.")
out("- A training step: frechet `net.train_step(x, &labels[..], &SoftmaxCrossEntropy, "
    "&mut Sgd::new(0.01))`; PyTorch `opt.zero_grad(); F.cross_entropy(model(x), y)"
    ".backward(); opt.step()` with `torch.optim.SGD(lr=0.01)`. Inference: frechet "
    "`net.forward(x)`, PyTorch `model(x)` under `torch.inference_mode()`, at batch 1.")
out("- Data: fixed synthetic data from a seed, 4096 samples uniform in [0, 1) with random "
    "labels, walked batch by batch (for RSS: one batch of 128).")
out(f"- Estimator (the same code shape on both sides: `examples/bench_workloads.rs`, "
    f"`tools/bench_torch.py`): {meta['warmup_per_row']} s of warm-up, then "
    f"{meta['seconds_per_row']} s of steps timed in blocks of about 2 ms (at least one step, "
    "at least 10 blocks); a round's figure is the median over blocks of the time per step. "
    + (f"The whole measurement is repeated {meta['rounds']} times, alternating which "
       "framework goes first; the tables quote the median of the rounds' medians, and "
       "*spread* is half the range of the rounds' medians relative to that median."
       if meta["rounds"] > 1 else
       "The measurement was made once (one round): no spread, and no noise estimate."))
out(f"- Clean rounds: a round of a block counts when the rest of the machine used at most "
    f"{QUIET_PERCENT}% of the CPUs during it (all CPUs' busy time less the benchmark's own) "
    f"and, for 2 threads, the second-core check before it (`bench_workloads cores`: the "
    f"same busy loop on 2 threads against 1, ideal 2.0×) reached {CORES_OK}×. Each figure "
    "is the median of the clean rounds; † marks one for which no round was clean (the "
    "median of all rounds, to be distrusted).")
out("- Threads: frechet `RAYON_NUM_THREADS=n`, PyTorch `torch.set_num_threads(n)`.")
out("- Instruction sets: every pass repeats the measurement with both frameworks held to "
    "one instruction set. The machine's own runs as it is; a narrower one is set through "
    "the environment, "
    + "; ".join(f"{p}: `{env}`" for p, env in meta["pass_env"].items() if env)
    + (" — " if any(meta["pass_env"].values()) else "no narrower pass in this run. ")
    + "`FRECHET_ISA` for frechet (`frechet::Isa`, which every kernel asks), "
    "`ATEN_CPU_CAPABILITY` for ATen's own kernels, `ONEDNN_MAX_CPU_ISA` for oneDNN (the "
    "convolutions) and `MKL_ENABLE_INSTRUCTIONS` for MKL (the matrix products). An AVX-512 "
    "machine held to AVX2 stands in for an AVX2 machine (with the AVX-512 machine's clocks "
    "and caches). Every row records what frechet's kernels ran (`Isa::current()`), and "
    "PyTorch's rows what ATen and oneDNN report; MKL cannot be asked.")
out("- Ratio: frechet samples/s over PyTorch's for training; PyTorch's latency over "
    "frechet's for inference; so higher is better for frechet everywhere.")
work = {net: (mflop(net, False), mflop(net, True)) for net in LAYERS}
out("- GFLOP/s: the rate times the GEMM-equivalent work of a sample (convolution "
    "2·out_h·out_w·out_c·in_c·k², dense 2·in·out; activations, pools, BatchNorm and biases "
    "not counted). A training step counts the forward pass, the weight gradients and the "
    "input gradients of every layer but the first: "
    + ", ".join(f"{net} {work[net][0]:#.3g}" for net in LAYERS)
    + " MFLOP per sample. Inference counts the forward pass: "
    + ", ".join(f"{net} {work[net][1]:#.3g}" for net in sorted(
        {parse(row_id)[0] for row_id, *_ in TABLE if parse(row_id)[1]}))
    + " MFLOP per call.")
out("- % of peak: GFLOP/s over the single-core FMA peak of the pass's instruction set "
    "(the probe's median above), times the thread count.")
out("- Targets: the ratio targets are issue 7's (W1 at batch 1024 and W2 had 1.25× and "
    "1.15× there), with issue 18's where it sets them: W1 at batch 1024 and W2 ≥ 1× and "
    "≥ 85% of the peak; W4 (training at batch 64 and inference at batch 1) ≥ 1.6× and "
    "≥ 80%; W5 (training at batch 128 and inference at batch 1) ≥ 3× and ≥ 80%; W3 at "
    "batch 128 ≥ 4× and ≥ 60%; W6 (issue 16) not behind PyTorch. They hold on AVX2 and on "
    "AVX-512 alike. *Met* needs every target a row has; the peak targets are one-core "
    "figures and are checked on 1 thread. With 2 threads, frechet 2T / 1T (its 2-thread "
    f"figure over its 1-thread one) must reach {SCALING_TARGET}× when training at batch "
    f"≥ 128, and batch 1 must not get slower (counted as ≥ {NOT_SLOWER}×). *Close* marks "
    "a verdict resting on a value within 10% of its target: with the noise below, one run "
    "does not decide those.")
out("- Peak RSS: frechet — the whole process's peak (`/usr/bin/time -v`, maximum resident "
    "set size) of `bench_workloads rss`; PyTorch — `VmHWM` after the steps minus `VmRSS` "
    "after `import torch`. Both train W1 at batch 128 for 500 steps on one batch, in the "
    "first pass.")
out("")

checks = [r for r in rows if r["id"] == "cores"]
isa_ok = {}
for isa_pass, threads in blocks:
    out(f"## {pass_title(isa_pass)}, {threads_title(threads)}")
    out("")
    text, isa_ok[(isa_pass, threads)] = kernels(isa_pass, threads)
    out(text)
    out("")
    if threads == 2:
        mine = [c for c in checks if c["isa_pass"] == isa_pass]
        out("Second-core check before each 2-thread block: "
            + "; ".join(f"round {c['round']}" + (f" try {c['try']}" if c["try"] > 1 else "")
                        + f": {c['speedup_2_threads']:.2f}×" for c in mine) + ".")
        out("")
    loads = [r for r in rows if r["id"] == "foreign_load" and r["isa_pass"] == isa_pass
             and r["requested_threads"] == threads]
    out("Other processes' CPU use during these blocks: "
        + ", ".join(f"{r['framework']} round {r['round']} {r['percent']:.0f}%" for r in loads)
        + ".")
    out("")
    header = ["workload", "frechet", "PyTorch", "ratio", "GFLOP/s frechet / PyTorch",
              f"% of peak{' (2 cores)' if threads == 2 else ''} frechet / PyTorch",
              "ratio target"] + (["peak target"] if threads == 1 else []) + [
              "met", "frechet spread", "PyTorch spread"]
    if threads == 2:
        header += ["frechet 2T / 1T", "2T / 1T target"]
    out("| " + " | ".join(header) + " |")
    out("|" + "---|" * len(header))
    for row_id, ratio_target, peak_target in TABLE:
        m = results[(isa_pass, threads, row_id)]
        if m is None:
            cells = [label(row_id), "—", "—", "", "", "", f"≥ {ratio_target}×"]
            cells += [f"≥ {peak_target}%" if peak_target else "—"] if threads == 1 else []
            cells += ["not measured", "", ""] + (["", ""] if threads == 2 else [])
            out("| " + " | ".join(cells) + " |")
            continue
        unit = " µs" if m["infer"] else ""
        cells = [label(row_id),
                 fmt(m["fm"]) + unit + ("" if m["f_clean"] else " †"),
                 fmt(m["tm"]) + unit + ("" if m["t_clean"] else " †"),
                 f"{m['ratio']:.2f}×",
                 " / ".join(f"{g:.0f}" for g in m["gflops"]),
                 " / ".join(fmt_share(s) for s in m["share"]),
                 f"≥ {ratio_target}×"]
        if threads == 1:
            cells.append(f"≥ {peak_target}%" if peak_target else "—")
        cells += [verdict(m["checks"]), fmt_spread(m["f"]), fmt_spread(m["t"])]
        if threads == 2:
            goal = m["scale_target"]
            cells += ["" if m["scale"] is None else f"{m['scale']:.2f}×",
                      "—" if goal is None or m["scale"] is None
                      else f"≥ {goal}×: " + ("yes" if m["scale"] >= goal else "**no**")]
        out("| " + " | ".join(cells) + " |")
    fr = rss.get(("frechet", threads, "w1_rss_time_v")) or rss.get(("frechet", threads, "w1_rss_b128"))
    tr = rss.get(("torch", threads, "w1_rss_b128"))
    show_rss = isa_pass == PASSES[0] and fr and tr
    if show_rss:
        fm, tm = mib(fr["peak_rss_kib"]), mib(tr["over_baseline_kib"])
        cells = ["Peak RSS, W1 training at batch 128, 500 steps", f"{fm:.1f} MiB",
                 f"{tm:.0f} MiB over `import torch`", f"{tm / fm:.0f}× less", "", "",
                 f"≤ {RSS_TARGET_MIB} MiB"] + ([""] if threads == 1 else []) + [
                 "yes" if fm <= RSS_TARGET_MIB else "**no**", "", ""]
        cells += ["", ""] if threads == 2 else []
        out("| " + " | ".join(cells) + " |")
    out("")
    if show_rss:
        hwm = rss.get(("frechet", threads, "w1_rss_b128"))
        out(f"RSS details: frechet's process started at {mib(hwm['start_rss_kib']):.1f} MiB "
            f"(before any network or data) and peaked at {mib(hwm['peak_rss_kib']):.1f} MiB "
            f"by `VmHWM`; PyTorch's process held {mib(tr['baseline_rss_kib']):.0f} MiB after "
            f"`import torch` and peaked at {mib(tr['peak_rss_kib']):.0f} MiB.")
        out("")

out("## Summary")
out("")
for isa_pass, threads in blocks:
    where = f"{ISA_NAME[isa_pass]}, {threads_title(threads)}"
    for framework, name in (("frechet", "frechet"), ("torch", "PyTorch")):
        spreads = [s for row_id, *_ in TABLE
                   if (s := spread(figures(framework, isa_pass, threads, row_id)[0])) is not None]
        if spreads:
            out(f"- Noise, {name}, {where}: the rounds of a row differ by "
                f"±{statistics.median(spreads):.0f}% (median over rows), "
                f"±{max(spreads):.0f}% at most.")
for isa_pass, threads in blocks:
    where = f"{ISA_NAME[isa_pass]}, {threads_title(threads)}"
    measured = [(row_id, m) for row_id, *_ in TABLE
                if (m := results[(isa_pass, threads, row_id)]) is not None]
    miss = [f"{label(row_id)} ({', '.join(shortfall(c) for c in missed(m['checks']))})"
            for row_id, m in measured if missed(m["checks"])]
    out(f"- {where}: {len(measured) - len(miss)} of {len(measured)} rows meet their targets"
        + (f"; missed: {'; '.join(miss)}." if miss else "."))
    scaled = [(row_id, m) for row_id, m in measured
              if m["scale"] is not None and m["scale_target"] is not None]
    if scaled:
        low = [f"{label(row_id)} ({m['scale']:.2f}× < {m['scale_target']}×)"
               for row_id, m in scaled if m["scale"] < m["scale_target"]]
        out(f"- {where}, frechet 2T / 1T: {len(scaled) - len(low)} of {len(scaled)} met"
            + (f"; missed: {'; '.join(low)}." if low else "."))
    if not isa_ok[(isa_pass, threads)]:
        out(f"- **{where}: not every kernel ran {isa_pass}** (see that table): its figures "
            "do not measure the pass.")
out("")
out("Raw per-round figures (JSON lines, with quartiles, step counts, the last loss and the "
    "instruction sets): `target/bench/results.jsonl` after a run.")

open(out_path, "w").write("\n".join(lines) + "\n")
print(f"wrote {out_path}", file=sys.stderr)
PY
