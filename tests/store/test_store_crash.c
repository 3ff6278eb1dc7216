/*
 * test_store_crash.c -- "an acknowledged write survives kill -9".
 *
 * Each round forks a child that opens the store and writes rows from
 * WRITERS threads as fast as it can.  Right after dcf_store_write returns
 * DCF_OK, the thread writes the row id (8 bytes, atomic on a pipe) to a
 * pipe.  The parent kills the child with SIGKILL at a pseudo-random moment
 * (fixed seed), drains the pipe, reopens the database and checks that every
 * acknowledged id is present with the right payload and checksum.  The
 * parent holds no store (and no threads) across fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deconflict/store.h"
#include "test.h"

#define ROUNDS    5
#define WRITERS   3
#define ID_STRIDE INT64_C(1000000000) // ids of round r start at r * ID_STRIDE
#define MAX_ACKED 200000

static const dcf_store_migration_t migs[] = {
    {1, "CREATE TABLE rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, "
        "sum INTEGER NOT NULL);"},
};

// FNV-1a over the payload: the checksum column.
static int64_t checksum(const char *p, size_t len) {
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * UINT64_C(1099511628211);
    return (int64_t)(h >> 1);
}

static size_t payload(int64_t id, char *buf, size_t len) {
    int n = snprintf(buf, len, "row-%lld-%llx-padding-to-make-it-a-bit-longer", (long long)id,
                     (unsigned long long)id * 2654435761u);
    return (size_t)n;
}

typedef struct {
    dcf_store_t *st;
    int fd;
    int64_t next_id;
} child_writer_t;

static int insert_row(dcf_store_tx_t *tx, void *arg) {
    const int64_t *id = arg;
    char buf[128];
    size_t len = payload(*id, buf, sizeof(buf));
    dcf_store_val_t p[3] = {dcf_store_val_int(*id), dcf_store_val_text(buf, len),
                            dcf_store_val_int(checksum(buf, len))};
    return dcf_store_tx_exec(tx, "INSERT INTO rows (id, payload, sum) VALUES ($1, $2, $3)", p, 3,
                             NULL);
}

static void *child_writer(void *p) {
    child_writer_t *w = p;
    for (;;) {
        int64_t id = w->next_id;
        w->next_id += WRITERS;
        if (dcf_store_write(w->st, insert_row, &id) != DCF_OK)
            _exit(3);
        if (write(w->fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
            _exit(4);
    }
    return NULL;
}

static _Noreturn void child_main(const char *uri, int round, int fd) {
    dcf_store_t *st = NULL;
    dcf_store_opts_t o = {.uri = uri};
    child_writer_t w[WRITERS];
    pthread_t th[WRITERS];
    if (dcf_store_open(&o, migs, 1, &st) != DCF_OK)
        _exit(2);
    for (int t = 0; t < WRITERS; t++) {
        w[t] = (child_writer_t){.st = st, .fd = fd, .next_id = round * ID_STRIDE + t};
        pthread_create(&th[t], NULL, child_writer, &w[t]);
    }
    for (int t = 0; t < WRITERS; t++)
        pthread_join(th[t], NULL);
    _exit(5); // not reached: the parent kills us
}

typedef struct {
    int64_t id;
    int found;
    int bad;
} verify_t;

static int verify_cb(void *arg, const dcf_store_val_t *c, size_t n) {
    verify_t *v = arg;
    char buf[128];
    v->found++;
    if (n != 3 || c[0].type != DCF_STORE_INT || c[1].type != DCF_STORE_TEXT ||
        c[2].type != DCF_STORE_INT || c[0].u.i != v->id) {
        v->bad++;
        return 0;
    }
    size_t len = payload(v->id, buf, sizeof(buf));
    if (c[1].u.b.len != len || memcmp(c[1].u.b.ptr, buf, len) != 0 ||
        c[2].u.i != checksum(c[1].u.b.ptr, c[1].u.b.len))
        v->bad++;
    return 0;
}

static int table_cb(void *arg, const dcf_store_val_t *c, size_t n) {
    int64_t *bad = arg;
    if (n != 3 || c[1].type != DCF_STORE_TEXT || c[2].type != DCF_STORE_INT ||
        c[2].u.i != checksum(c[1].u.b.ptr, c[1].u.b.len))
        (*bad)++;
    return 0;
}

static int64_t acked[MAX_ACKED];

static void run_round(const char *uri, int round, unsigned *seed) {
    int fds[2];
    size_t n_acked = 0;
    if (pipe(fds) != 0) {
        CHECK(0);
        return;
    }
    int kill_after_ms = 200 + rand_r(seed) % 300;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_main(uri, round, fds[1]);
    }
    close(fds[1]);
    CHECK(pid > 0);
    if (pid <= 0) {
        close(fds[0]);
        return;
    }

    // Read acknowledgements until the kill moment, then kill and drain.
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool killed = false;
    unsigned char buf[8 * 512];
    size_t have = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (!killed && ms >= kill_after_ms) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pfd, 1, killed ? 1000 : 5);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            if (killed)
                break; // should not happen: EOF comes once the child is gone
            continue;
        }
        ssize_t r = read(fds[0], buf + have, sizeof(buf) - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; // EOF: the child is dead and the pipe drained
        have += (size_t)r;
        size_t whole = have / 8 * 8;
        for (size_t i = 0; i < whole; i += 8) {
            int64_t id;
            memcpy(&id, buf + i, 8);
            if (n_acked < MAX_ACKED)
                acked[n_acked++] = id;
        }
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    CHECK_INT(have, 0); // only whole ids on the pipe
    CHECK_MSG(n_acked > 0, "round %d: no write acknowledged in %d ms", round, kill_after_ms);

    // Reopen after the crash: every acknowledged row is there and intact.
    dcf_store_t *st = NULL;
    dcf_store_opts_t o = {.uri = uri};
    CHECK_INT(dcf_store_open(&o, migs, 1, &st), DCF_OK);
    if (!st)
        return;
    int missing = 0, bad = 0;
    for (size_t i = 0; i < n_acked; i++) {
        verify_t v = {.id = acked[i]};
        dcf_store_val_t p = dcf_store_val_int(acked[i]);
        int err = dcf_store_read(st, "SELECT id, payload, sum FROM rows WHERE id = $1", &p, 1,
                                 verify_cb, &v);
        if (err != DCF_OK || v.found != 1)
            missing++;
        bad += v.bad;
    }
    CHECK_INT(missing, 0);
    CHECK_INT(bad, 0);
    // The whole table is intact, acknowledged or not.
    int64_t rows_bad = 0;
    CHECK_INT(dcf_store_read(st, "SELECT id, payload, sum FROM rows", NULL, 0, table_cb, &rows_bad),
              DCF_OK);
    CHECK_INT(rows_bad, 0);
    fprintf(stderr, "  round %d: killed after %d ms, %zu acknowledged, all present\n", round,
            kill_after_ms, n_acked);
    dcf_store_close(st);
}

int main(void) {
    char dir[] = "/tmp/dcf_crash_XXXXXX";
    char uri[128];
    unsigned seed = 20261123;
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(uri, sizeof(uri), "sqlite:%s/crash.db", dir);
    signal(SIGPIPE, SIG_IGN);
    for (int r = 1; r <= ROUNDS; r++)
        run_round(uri, r, &seed);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_DONE();
}
