#!/usr/bin/env bash
# One link of the GPU training: every candidate of configs/gpu trains side by side on the one GPU
# (bf16 autocast, channels-last, batch 32 of 256-px patches; torch.compile where its config says:
# the ndr-fine16-compile twin measures whether compiling pays in a 5-minute stage), then is exported.
#
#   scripts/gpu_train.sh STAGE MINUTES TOTAL [CANDIDATE ...]
#
# Candidates: the names given, else those listed in $CONFIGS/next.txt, else every config there.
# STAGE 1 warm-starts each candidate from the shipped weights (or from what its config's
# "# gpu-init:" comment names: "none" for a random start, or a file); STAGE 2 resumes runs/gpu/<c>/last.pt
# when the machine is still the same (kept warm between the two calls), else warm-starts from
# carry/stage1/<c>.safetensors (the first stage's export, carried back) or the shipped weights.
# MINUTES: training time of this stage per candidate; TOTAL: the learning-rate schedule's length
# over both stages (stage 1: e.g. "5 9.5", stage 2: "4.5 9.5").
# STEPS (optional): also stop each candidate after this many steps of this stage, whichever comes
# first (a bound that does not depend on the machine's speed, for checks; unset on the GPU).
# Photos: carry/photos (python -m restore.training.pack), or $DATA.
# Writes $OUT/<c>.tar (fp16 weights as restore/assets/weights names them, log.jsonl, curve.png)
# and $OUT/summary.txt. Check it on the CPU first with a tiny config:
#   CONFIGS=configs/gpu-tiny INIT=none DEVICE=cpu OUT=/tmp/gpu-out scripts/gpu_train.sh 1 0.3 0.6
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ $# -lt 3 ]; then
    echo "usage: $0 STAGE MINUTES TOTAL [CANDIDATE ...]" >&2
    exit 2
fi
STAGE=$1 MIN=$2 TOTAL=$3
shift 3
CONFIGS=${CONFIGS:-configs/gpu}
CANDS=("$@")
if [ ${#CANDS[@]} -eq 0 ] && [ -f "$CONFIGS/next.txt" ]; then
    read -r -a CANDS <"$CONFIGS/next.txt"  # the runs planned for the next lease
fi
if [ ${#CANDS[@]} -eq 0 ]; then
    for f in "$CONFIGS"/*.yaml; do CANDS+=("$(basename "$f" .yaml)"); done
fi
if [ ${#CANDS[@]} -gt 7 ]; then
    echo "at most 7 candidates: \$OUT brings back 8 files (7 tars and the summary)" >&2
    exit 2
fi
OUT=${OUT:-runs/gpu-out}
DATA=${DATA:-carry/photos}
PY=${PYTHON:-python3}
DEVICE_ARGS=()
[ -n "${DEVICE:-}" ] && DEVICE_ARGS=(--device "$DEVICE")
mkdir -p "$OUT" runs/gpu
export TORCHINDUCTOR_CACHE_DIR=$PWD/runs/gpu/inductor TRITON_CACHE_DIR=$PWD/runs/gpu/triton PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
summary=$OUT/summary.txt
{
    echo "stage $STAGE, $MIN min of $TOTAL${STEPS:+ (at most $STEPS steps)}, candidates ${CANDS[*]}, $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$summary"

pids=()
for c in "${CANDS[@]}"; do
    run=runs/gpu/$c
    mkdir -p "$run"
    case $c in dfpir*) name=dfpir ;; *) name=ndr-restore ;; esac
    init=()
    # A config may name its own start in a comment: "# gpu-init: none" (a new network from a random
    # start) or "# gpu-init: PATH" (e.g. the in-progress file; used when it exists), before the shipped file.
    own=$(sed -n 's/^# gpu-init: *//p' "$CONFIGS/$c.yaml" | head -n 1)
    if [ ! -f "$run/last.pt" ]; then
        starts=("carry/stage1/$c.safetensors")
        [ -n "$own" ] && [ "$own" != none ] && starts+=("$own")
        [ -z "$own" ] && starts+=("restore/assets/weights/$name.safetensors")
        for f in "${starts[@]}"; do
            if [ -f "$f" ] && [ "${INIT:-yes}" != none ]; then init=(--init "$f"); break; fi
        done
    fi
    spent=0 trained=0
    if [ -f "$run/last.pt" ]; then
        read -r spent trained < <($PY -c "import torch; c = torch.load('$run/last.pt', map_location='cpu', weights_only=True); print(c['elapsed'] / 60, c['step'])")
    fi
    steps=()
    [ -n "${STEPS:-}" ] && steps=(--steps "$((trained + STEPS))")  # the trainer's --steps counts the run's total
    budget=$($PY -c "print(round($spent + $MIN, 3))")
    schedule=$($PY -c "print(max($TOTAL, $spent + $MIN))")
    start=${init[*]:-resume}
    [ ${#init[@]} -eq 0 ] && [ ! -f "$run/last.pt" ] && start="a random start"
    echo "$c: $start spent $spent min, train to $budget min, schedule $schedule min" >>"$summary"
    $PY -m restore.training --config "$CONFIGS/$c.yaml" --data "$DATA" --out "$run" "${DEVICE_ARGS[@]}" \
        --minutes "$budget" --schedule-minutes "$schedule" "${steps[@]}" "${init[@]}" >"$run/stage$STAGE.log" 2>&1 &
    pids+=($!)
done
# A hung process must not eat the lease: give each its minutes plus 3 for start-up and compile.
guard=$($PY -c "print(int($MIN * 60 + 180))")
# (Its output goes to /dev/null so that its sleep holds no caller's pipe open after the end.)
(sleep "$guard" && kill "${pids[@]}") >/dev/null 2>&1 &
guard_pid=$!
for p in "${pids[@]}"; do wait "$p"; done
pkill -P "$guard_pid" 2>/dev/null
kill "$guard_pid" 2>/dev/null

for c in "${CANDS[@]}"; do
    run=runs/gpu/$c
    case $c in dfpir*) name=dfpir ;; *) name=ndr-restore ;; esac
    rm -rf "$run/export"
    if $PY -m restore.training --export "$run" --name "$name" --export-dir "$run/export" >>"$run/stage$STAGE.log" 2>&1; then
        if [[ $c == *-compile ]]; then  # a measurement only: its weights stay (the 64-MiB return limit)
            tar -cf "$OUT/$c.tar" -C "$run" log.jsonl "stage$STAGE.log"
        else
            tar -cf "$OUT/$c.tar" -C "$run" log.jsonl "stage$STAGE.log" -C export .
        fi
        $PY - "$run" "$c" >>"$summary" <<'PYEOF'
import json, sys
rows = [json.loads(line) for line in open(f"{sys.argv[1]}/log.jsonl")]
steps = [r for r in rows if "val" not in r]
vals = [r for r in rows if "val" in r]
last = steps[-1] if steps else {}
print(f"{sys.argv[2]}: step {last.get('step')} at {last.get('time')} s, loss {last.get('loss_restore')}")
if vals:
    v = vals[-1]["val"]
    print("   val", {k: round(x, 2) for k, x in v.items() if not k.endswith("_input")})
PYEOF
    else
        echo "$c: export failed, see its log" >>"$summary"
        tail -n 30 "$run/stage$STAGE.log" >>"$summary"
    fi
done
cat "$summary"
