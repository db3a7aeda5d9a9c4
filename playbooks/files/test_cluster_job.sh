#!/usr/bin/env bash
# OSCAR's Test Cluster Setup through Slurm: one task per allocated node, both
# MPI programs started by srun, each line of their output tagged with the MPI
# that printed it, then "<mpi> exit <status>".  MPICH talks to srun over
# PMI-2, Debian's Open MPI over PMIx.  sbatch runs it in the test directory
# (--chdir) and passes OSCAR_TEST_CIDR, the cluster network that Open MPI
# keeps to, and OSCAR_TEST_STEP_TIMEOUT, the seconds each MPI may take: a
# program that hangs is stopped there, so the other MPI is still tried and
# reported.  Open MPI goes first: a step stopped that way can leave the nodes'
# slurmd busy for a while, which a step launched right after may time out on.
set -u -o pipefail
: "${OSCAR_TEST_CIDR:?the cluster network, for Open MPI}"
: "${OSCAR_TEST_STEP_TIMEOUT:?the seconds each MPI program may take}"

# run_step NAME COMMAND...: run one MPI program, tag its output, report its exit.
run_step() {
  local name=$1 status
  shift
  timeout --kill-after=10 "$OSCAR_TEST_STEP_TIMEOUT" "$@" 2>&1 | sed "s/^/$name /"
  status=${PIPESTATUS[0]}
  echo "$name exit $status"
  return "$status"
}

status=0
run_step openmpi env OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include="$OSCAR_TEST_CIDR" \
  OMPI_MCA_oob_tcp_if_include="$OSCAR_TEST_CIDR" srun --mpi=pmix ./ring-openmpi || status=1
run_step mpich srun --mpi=pmi2 ./ring-mpich || status=1
exit "$status"
