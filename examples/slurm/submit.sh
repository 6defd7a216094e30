#!/bin/bash
# Submits a sharded ODinW zero-shot run to Slurm: one array task per shard (bench_array.sbatch),
# then `bench merge` (merge.sbatch) once every shard has succeeded.
#
#   SHARDS=8 RUN_DIR=runs/odinw-glip-t BENCH_ARGS="--model bundles/glip-t --data /data/DATASET" \
#     bash examples/slurm/submit.sh
#
# Run it from the repository root on a shared file system (every node sees the same folder).
# The merged run is in $RUN_DIR/merged: detections, COCO results, leaderboard file, run record
# and report, the same files a single unsharded run writes.
set -euo pipefail
here=$(dirname "$0")
RUN_DIR=${RUN_DIR:-runs/odinw-$(date +%Y%m%d-%H%M%S)}
SHARDS=${SHARDS:-4}
export RUN_DIR
array=$(sbatch --parsable --array="1-$SHARDS" --export=ALL,RUN_DIR="$RUN_DIR" \
  "$here/bench_array.sbatch")
array=${array%%;*} # --parsable prints "jobid" or "jobid;cluster"
merge=$(sbatch --parsable --dependency=afterok:"$array" --export=ALL,RUN_DIR="$RUN_DIR" \
  "$here/merge.sbatch")
echo "submitted shards (job $array, $SHARDS tasks) and merge (job ${merge%%;*}) into $RUN_DIR"
