// Package cluster writes the files that run a limbic run on a cluster, one
// step after another, each sharded step as many tasks: Slurm batch scripts
// (Slurm) and Kubernetes Jobs (K8s).
//
// A Plan lists the steps, their shard counts, the resources of a task and
// where the run directory lies; every task of every step reads and writes
// that one directory, so it must be on storage all tasks share (a parallel
// file system under Slurm, a ReadWriteMany PersistentVolumeClaim under
// Kubernetes).
//
// A sharded step (Shards > 1) runs as Shards tasks, task I running
//
//	limbic STEP... --dir RUN --shard I/N
//
// (a Slurm job array, I from $SLURM_ARRAY_TASK_ID; a Kubernetes Indexed Job,
// I from $(JOB_COMPLETION_INDEX)), then one merge task,
//
//	limbic merge --dir RUN --step NAME
//
// which combines the shards' results; for prefs and eval, which pool their
// shards with the model loaded, the merge task is the step's own command
// with --merge in place of --shard (Step.Rerun). A step with one shard runs as a single
// task with neither. A step starts when the steps it comes After have
// finished, merges included: with sbatch --dependency=afterok under Slurm,
// with a submit script that waits on each Job's Complete condition under
// Kubernetes, which has no dependencies between Jobs.
//
// Job names, file names and the YAML depend only on the Plan, so the output
// is reproducible and golden-tested.
package cluster
