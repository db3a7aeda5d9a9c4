#!/usr/bin/env bash
# OSCAR's Test Cluster Setup through Slurm: one task per allocated node, both
# MPI programs started by srun, each line of their output tagged with the MPI
# that printed it.  Debian's MPICH talks to srun over PMI-2, its Open MPI over
# PMIx.  sbatch runs it in the test directory (--chdir) and passes
# OSCAR_TEST_CIDR, the cluster network that Open MPI keeps to.
set -u -o pipefail
: "${OSCAR_TEST_CIDR:?the cluster network, for Open MPI}"
status=0
srun --mpi=pmi2 ./ring-mpich | sed 's/^/mpich /' || status=1
OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=$OSCAR_TEST_CIDR OMPI_MCA_oob_tcp_if_include=$OSCAR_TEST_CIDR \
  srun --mpi=pmix ./ring-openmpi | sed 's/^/openmpi /' || status=1
exit "$status"
