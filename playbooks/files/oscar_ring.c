/*
 * The MPI program of OSCAR's "Test Cluster Setup": every rank reports the host
 * it runs on, then a token goes once around the ring of ranks, each adding its
 * rank.  Rank 0 prints one line per rank and the ring's verdict, so the caller
 * can tell, node by node, which ranks ran and whether they could talk.
 *
 * Output (rank 0 only):
 *   rank 3 of 4 on node004
 *   ring ok: 4 ranks, token 6
 * or "ring broken: ..." and exit status 1.
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HOST_LEN 256

int main(int argc, char **argv)
{
    int rank, size;
    char host[HOST_LEN];
    char *hosts = NULL;
    long token = 0;
    int status = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    memset(host, 0, sizeof(host));
    if (gethostname(host, HOST_LEN - 1) != 0)
        strncpy(host, "unknown", HOST_LEN - 1);

    if (rank == 0) {
        static char all[HOST_LEN * 4096];
        if (size > 4096) {
            fprintf(stderr, "ring broken: %d ranks, at most 4096\n", size);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        hosts = all;
    }
    MPI_Gather(host, HOST_LEN, MPI_CHAR, hosts, HOST_LEN, MPI_CHAR, 0, MPI_COMM_WORLD);

    /* Rank 0 starts the token; each rank adds its own and passes it on. */
    if (size > 1) {
        int next = (rank + 1) % size;
        int previous = (rank + size - 1) % size;
        if (rank == 0) {
            MPI_Send(&token, 1, MPI_LONG, next, 0, MPI_COMM_WORLD);
            MPI_Recv(&token, 1, MPI_LONG, previous, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(&token, 1, MPI_LONG, previous, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            token += rank;
            MPI_Send(&token, 1, MPI_LONG, next, 0, MPI_COMM_WORLD);
        }
    }

    if (rank == 0) {
        long expected = (long)size * (size - 1) / 2;
        for (int r = 0; r < size; r++)
            printf("rank %d of %d on %s\n", r, size, hosts + (size_t)r * HOST_LEN);
        if (token == expected) {
            printf("ring ok: %d ranks, token %ld\n", size, token);
        } else {
            printf("ring broken: %d ranks, token %ld, expected %ld\n", size, token, expected);
            status = 1;
        }
        fflush(stdout);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return status;
}
