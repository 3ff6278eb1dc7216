/*
 * test_http_defer.c -- deferred replies (dcf_http_req_defer / _resume) over
 * real HTTP: a resume that comes before the handler returns, one from
 * another thread after the connection was suspended, a continuation that
 * defers again, many deferred requests held at once by a pool of two
 * threads, a stop while requests are deferred (it waits for them), and a
 * client that hangs up while deferred (the continuation still runs).
 *
 * The app's "completer" thread plays the store's writer: it takes the
 * deferred requests queued by the handlers and resumes them after a delay.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "deconflict/http.h"
#include "test.h"

#define QUEUE_MAX 1024

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dcf_http_req_t *queue[QUEUE_MAX];
    size_t n;
    bool quit;
    long delay_ms;
    atomic_int deferred_now, deferred_max, continued;
} app_t;

static app_t app = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void *completer(void *arg) {
    app_t *a = arg;
    dcf_http_req_t *batch[QUEUE_MAX];
    size_t n;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->n == 0 && !a->quit)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->n == 0 && a->quit)
            break;
        long delay = a->delay_ms;
        pthread_mutex_unlock(&a->mu);
        sleep_ms(delay); /* let more pile up, like a commit's fsync */
        pthread_mutex_lock(&a->mu);
        n = a->n;
        memcpy(batch, a->queue, n * sizeof batch[0]);
        a->n = 0;
        pthread_mutex_unlock(&a->mu);
        for (size_t i = 0; i < n; i++)
            dcf_http_req_resume(batch[i]);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void note_deferred(app_t *a) {
    int now = atomic_fetch_add(&a->deferred_now, 1) + 1, max = atomic_load(&a->deferred_max);
    while (now > max && !atomic_compare_exchange_weak(&a->deferred_max, &max, now))
        ;
}

static void enqueue(app_t *a, dcf_http_req_t *r) {
    pthread_mutex_lock(&a->mu);
    a->queue[a->n++] = r; /* the clients never exceed QUEUE_MAX in flight */
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Second step of "twice": reply. */
static void cont_final(void *appv, dcf_http_req_t *r, void *arg) {
    app_t *a = appv;
    atomic_fetch_sub(&a->deferred_now, 1);
    atomic_fetch_add(&a->continued, 1);
    dcf_http_reply_json(r, 200, json_pack("{s:s, s:i}", "mode", (const char *)arg, "steps", 2));
}

static void cont_first(void *appv, dcf_http_req_t *r, void *arg) {
    app_t *a = appv;
    const char *mode = arg;
    atomic_fetch_sub(&a->deferred_now, 1);
    atomic_fetch_add(&a->continued, 1);
    if (strcmp(mode, "twice") == 0) { /* defer once more */
        note_deferred(a);
        dcf_http_req_defer(r, cont_final, (void *)"twice");
        enqueue(a, r);
        return;
    }
    dcf_http_reply_json(r, 201, json_pack("{s:s, s:i}", "mode", mode, "steps", 1));
}

static void h_later(void *appv, dcf_http_req_t *r) {
    app_t *a = appv;
    const char *mode = dcf_http_req_param(r, "mode");
    static const char *const MODES[] = {"now", "thread", "twice"};
    const char *m = NULL;

    for (size_t i = 0; i < 3; i++)
        if (strcmp(mode, MODES[i]) == 0)
            m = MODES[i];
    if (m == NULL) {
        dcf_http_reply_problem(r, 400, "bad-mode", "Bad mode", mode, NULL);
        return;
    }
    note_deferred(a);
    if (strcmp(m, "now") == 0) { /* the answer is ready before we return */
        dcf_http_req_resume(r);
        dcf_http_req_defer(r, cont_first, (void *)m);
        return;
    }
    dcf_http_req_defer(r, cont_first, (void *)m);
    enqueue(a, r);
}

static const dcf_http_route_t ROUTES[] = {
    {"GET", "/later/{mode}", h_later, 0},
};

/* ------------------------------------------------------------ client -- */

typedef struct {
    char *body;
    size_t len;
} buf_t;

static size_t on_body(char *p, size_t sz, size_t n, void *arg) {
    buf_t *b = arg;
    char *grown = realloc(b->body, b->len + sz * n + 1);
    if (grown == NULL)
        return 0;
    b->body = grown;
    memcpy(b->body + b->len, p, sz * n);
    b->len += sz * n;
    b->body[b->len] = '\0';
    return sz * n;
}

/* GET /later/<mode>: true when the answer is `status` with the expected
 * mode and steps. */
static bool get_later(CURL *c, unsigned port, const char *mode, long status, int steps) {
    char url[128];
    buf_t b = {0};
    long got = 0;
    bool ok = false;
    json_t *j;

    snprintf(url, sizeof url, "http://127.0.0.1:%u/later/%s", port, mode);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &got);
        j = b.body ? json_loads(b.body, 0, NULL) : NULL;
        ok = got == status && j != NULL &&
             strcmp(json_string_value(json_object_get(j, "mode")), mode) == 0 &&
             json_integer_value(json_object_get(j, "steps")) == steps;
        json_decref(j);
    }
    free(b.body);
    return ok;
}

static dcf_http_t *start(unsigned threads) {
    dcf_http_opts_t o = {.listen = "127.0.0.1:0",
                         .threads = threads,
                         .routes = ROUTES,
                         .n_routes = sizeof ROUTES / sizeof ROUTES[0],
                         .app = &app};
    char err[256];
    dcf_http_t *h = NULL;
    int rc = dcf_http_start(&o, &h, err, sizeof err);
    CHECK_MSG(rc == DCF_OK, "start: %d %s", rc, err);
    return h;
}

/* ------------------------------------------------------------- tests -- */

static void test_modes(void) {
    dcf_http_t *h = start(2);
    CURL *c = curl_easy_init();
    if (h == NULL)
        return;
    app.delay_ms = 5;
    CHECK(get_later(c, dcf_http_port(h), "now", 201, 1));
    CHECK(get_later(c, dcf_http_port(h), "thread", 201, 1));
    CHECK(get_later(c, dcf_http_port(h), "twice", 200, 2));
    /* The same connection, many times over (keep-alive after a resume). */
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += get_later(c, dcf_http_port(h), i % 3 == 0 ? "now" : "thread", 201, 1);
    CHECK_INT(ok, 50);
    curl_easy_cleanup(c);
    dcf_http_stop(h);
    CHECK_INT(atomic_load(&app.deferred_now), 0);
}

#define CLIENTS 16
#define EACH    40

typedef struct {
    unsigned port;
    const char *mode;
    int ok;
} client_t;

static void *client_run(void *arg) {
    client_t *cl = arg;
    CURL *c = curl_easy_init();
    for (int i = 0; i < EACH; i++)
        cl->ok += get_later(c, cl->port, cl->mode, strcmp(cl->mode, "twice") ? 201 : 200,
                            strcmp(cl->mode, "twice") ? 1 : 2);
    curl_easy_cleanup(c);
    return NULL;
}

/* Two pool threads hold many deferred requests at once: deferring holds
 * no thread. */
static void test_many_deferred(void) {
    dcf_http_t *h = start(2);
    pthread_t th[CLIENTS];
    client_t cl[CLIENTS];
    int ok = 0;
    if (h == NULL)
        return;
    app.delay_ms = 20;
    atomic_store(&app.deferred_max, 0);
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client_t){.port = dcf_http_port(h), .mode = i % 4 == 0 ? "twice" : "thread"};
        pthread_create(&th[i], NULL, client_run, &cl[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        ok += cl[i].ok;
    }
    CHECK_INT(ok, CLIENTS * EACH);
    CHECK_MSG(atomic_load(&app.deferred_max) > 2, "at most %d deferred at once",
              atomic_load(&app.deferred_max));
    dcf_http_stop(h);
    CHECK_INT(atomic_load(&app.deferred_now), 0);
}

/* dcf_http_stop while requests are deferred: they still get their answer. */
static void test_stop_while_deferred(void) {
    dcf_http_t *h = start(2);
    pthread_t th[4];
    client_t cl[4];
    int ok = 0;
    if (h == NULL)
        return;
    app.delay_ms = 300;
    atomic_store(&app.continued, 0);
    for (int i = 0; i < 4; i++) {
        cl[i] = (client_t){.port = dcf_http_port(h), .mode = "thread"};
        pthread_create(&th[i], NULL, client_run, &cl[i]);
    }
    while (atomic_load(&app.deferred_now) < 4)
        sleep_ms(1);
    dcf_http_stop(h); /* waits for the completer's resumes */
    CHECK(atomic_load(&app.continued) >= 4);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += cl[i].ok;
    }
    CHECK(ok >= 4); /* the four in flight at the stop were answered */
    CHECK_INT(atomic_load(&app.deferred_now), 0);
}

/* The client hangs up while its request is deferred: the continuation
 * still runs once (so the app can free its state) and stop does not wait
 * for it forever. */
static void test_client_gone(void) {
    dcf_http_t *h = start(2);
    struct sockaddr_in a = {.sin_family = AF_INET};
    const char req[] = "GET /later/thread HTTP/1.1\r\nHost: x\r\n\r\n";
    if (h == NULL)
        return;
    app.delay_ms = 100;
    atomic_store(&app.continued, 0);
    a.sin_port = htons(dcf_http_port(h));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < 3; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
        CHECK(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
        while (atomic_load(&app.deferred_now) < 1)
            sleep_ms(1);
        close(fd); /* gone before the answer */
        for (int k = 0; k < 5000 && atomic_load(&app.continued) < i + 1; k++)
            sleep_ms(1);
        CHECK_INT(atomic_load(&app.continued), i + 1);
        CHECK_INT(atomic_load(&app.deferred_now), 0);
    }
    dcf_http_stop(h); /* returns: nothing is left deferred */
}

int main(void) {
    pthread_t comp;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_create(&comp, NULL, completer, &app);
    RUN(test_modes);
    RUN(test_many_deferred);
    RUN(test_stop_while_deferred);
    RUN(test_client_gone);
    pthread_mutex_lock(&app.mu);
    app.quit = true;
    pthread_cond_signal(&app.cv);
    pthread_mutex_unlock(&app.mu);
    pthread_join(comp, NULL);
    curl_global_cleanup();
    TEST_DONE();
}
