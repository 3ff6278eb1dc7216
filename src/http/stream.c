/*
 * stream.c -- Server-Sent Event streams on suspended connections.
 *
 * HOW IT WORKS.  A stream is a libmicrohttpd response of unknown size whose
 * content reader is stream_read().  libmicrohttpd calls the reader on the
 * connection's pool thread whenever it can send.  The reader asks the app
 * (ops->read) for bytes; when the app has nothing, the reader suspends the
 * connection and returns 0, so no thread and no poll slot is spent on it
 * until dcf_http_stream_wake() resumes it.  The content reader is one of
 * the two places libmicrohttpd documents as safe for MHD_suspend_connection.
 *
 * NO LOST WAKE-UP.  A wake can arrive while ops->read runs (the app queued an
 * event just after read looked).  Each stream has two flags under h->mu:
 *
 *   suspended  the reader suspended the connection and no wake resumed it
 *   pending    a wake found the stream not suspended
 *
 * The reader clears `pending` before calling ops->read and, when read
 * returns 0, checks it again under mu: set -> read again at once; clear ->
 * suspend (still under mu) and set `suspended`.  A wake takes mu, so it is
 * either before that check (pending is seen) or after the suspension (it
 * resumes).  wake resumes only streams marked suspended and clears the mark,
 * so MHD_resume_connection never meets a connection that is not suspended.
 *
 * ENDING.  The response's free callback (libmicrohttpd calls it exactly
 * once, when the connection is done with the response for whatever reason)
 * unlinks the stream and runs ops->close.  dcf_http_stop first sets
 * `stopping` and resumes every suspended stream; a reader that finds
 * `stopping` ends its stream instead of suspending, so libmicrohttpd never
 * meets a suspended connection at shutdown.  A suspended connection does not
 * notice that its client left: the first read after each suspension peeks
 * at the socket and ends the stream when the client has closed it, before
 * the app hands over any bytes (peer_gone); the app's heartbeat wake makes
 * sure that happens within a heartbeat.
 *
 * Callers: reply.c (dcf_http_reply_stream), server.c (stop), apps (wake,
 * count) from any thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "http/http_int.h"

/* Has the client closed its end?  A suspended connection is not polled,
 * so a client that left while it was suspended is found only by a write,
 * and the first write after the peer's FIN still succeeds: the app would
 * count bytes (say, a message delivered to a desk) that nobody reads.
 * So after each suspension, before asking the app for bytes, peek. */
static bool peer_gone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char c;
    if (ci == NULL)
        return false;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void unlink_locked(dcf_http_t *h, dcf__http_stream_t *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->n_streams--;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    dcf__http_stream_t *s = cls;
    dcf_http_t *h = s->h;

    (void)pos;
    for (;;) {
        ssize_t n;

        pthread_mutex_lock(&h->mu);
        if (h->stopping) {
            pthread_mutex_unlock(&h->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        s->pending = false;
        bool resumed = s->was_suspended;
        s->was_suspended = false;
        pthread_mutex_unlock(&h->mu);

        if (resumed && peer_gone(s->conn))
            return MHD_CONTENT_READER_END_OF_STREAM;
        n = s->ops.read(s->arg, buf, max);
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if ((size_t)n > max) {
            dcf__http_log_event(h, "error", "handler bug", NULL, "stream read overflowed");
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        pthread_mutex_lock(&h->mu);
        if (n > 0) {
            s->bytes_out += (uint64_t)n;
            pthread_mutex_unlock(&h->mu);
            return n;
        }
        if (s->pending || h->stopping) { /* woken while read ran: look again */
            pthread_mutex_unlock(&h->mu);
            continue;
        }
        s->suspended = true;
        s->was_suspended = true;
        MHD_suspend_connection(s->conn);
        pthread_mutex_unlock(&h->mu);
        return 0;
    }
}

static void stream_free(void *cls) {
    dcf__http_stream_t *s = cls;
    dcf_http_t *h = s->h;

    pthread_mutex_lock(&h->mu);
    unlink_locked(h, s);
    if (s->req != NULL) { /* the request is still open: leave it our count */
        s->req->bytes_out += s->bytes_out;
        s->req->stream = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    s->ops.close(s->arg);
    free(s);
}

static void refuse(dcf_http_req_t *r, const dcf_http_stream_ops_t *ops, void *arg,
                   const char *detail) {
    r->replied = false; /* the refusal is the reply */
    dcf__http_problem(r, 503, "unavailable", detail);
    if (ops != NULL && ops->close != NULL)
        ops->close(arg);
}

void dcf__http_stream_reply(dcf_http_req_t *r, uint64_t tag, const dcf_http_stream_ops_t *ops,
                            void *arg) {
    dcf_http_t *h = r->h;
    struct MHD_Response *resp;
    dcf__http_stream_t *s;

    if (tag == 0 || ops == NULL || ops->read == NULL || ops->close == NULL) {
        dcf__http_log_event(h, "error", "handler bug", r, "stream needs a tag, read and close");
        refuse(r, ops, arg, "the stream could not be opened");
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        refuse(r, ops, arg, "out of memory");
        return;
    }
    *s = (dcf__http_stream_t){.h = h, .tag = tag, .ops = *ops, .arg = arg, .conn = r->conn};

    pthread_mutex_lock(&h->mu);
    if (h->stopping || h->n_streams >= h->streams_max) {
        bool stopping = h->stopping;
        pthread_mutex_unlock(&h->mu);
        free(s);
        refuse(r, ops, arg, stopping ? "the server is stopping" : "too many open streams");
        return;
    }
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->n_streams++;
    s->req = r;
    r->stream = s;
    pthread_mutex_unlock(&h->mu);

    /* From here on the response owns s: stream_free runs exactly once. */
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, DCF__HTTP_STREAM_BLOCK, stream_read,
                                             s, stream_free);
    if (resp == NULL) {
        stream_free(s); /* unlinks, closes */
        r->replied = false;
        dcf__http_problem(r, 503, "unavailable", "out of memory");
        return;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") !=
            MHD_YES ||
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES ||
        !dcf__http_add_headers(r, resp)) {
        MHD_destroy_response(resp); /* stream_free runs */
        r->replied = false;
        dcf__http_problem(r, 503, "unavailable", "out of memory");
        return;
    }
    r->resp = resp;
    r->status = 200;
    r->bytes_out = 0;
}

/* Resuming a connection is a syscall (libmicrohttpd signals the pool
 * thread), and a wake may resume hundreds of streams: do it after letting
 * go of mu, which every stream read and deferred request takes.  That is
 * safe because a stream marked not suspended under mu is touched by nobody
 * until it is resumed: its connection stays suspended, so no reader runs
 * and it cannot be freed, and other wakes only set `pending`.  `waking`
 * counts wakes between the two steps; dcf_http_stop waits for none before
 * it stops libmicrohttpd.  Without memory for the list, resume under mu. */
void dcf_http_stream_wake(dcf_http_t *h, uint64_t tag) {
    struct MHD_Connection **conns;
    size_t n = 0;

    pthread_mutex_lock(&h->mu);
    conns = h->n_streams > 0 ? malloc(h->n_streams * sizeof *conns) : NULL;
    for (dcf__http_stream_t *s = h->streams; s != NULL; s = s->next) {
        if (tag != 0 && s->tag != tag)
            continue;
        if (s->suspended) {
            s->suspended = false;
            if (conns != NULL)
                conns[n++] = s->conn;
            else
                MHD_resume_connection(s->conn);
        } else {
            s->pending = true;
        }
    }
    if (n == 0) {
        pthread_mutex_unlock(&h->mu);
        free(conns);
        return;
    }
    h->waking++;
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(conns[i]);
    free(conns);
    pthread_mutex_lock(&h->mu);
    h->waking--;
    pthread_cond_broadcast(&h->resume_cv);
    pthread_mutex_unlock(&h->mu);
}

size_t dcf_http_stream_count(dcf_http_t *h, uint64_t tag) {
    size_t n = 0;

    pthread_mutex_lock(&h->mu);
    if (tag == 0)
        n = h->n_streams;
    else
        for (dcf__http_stream_t *s = h->streams; s != NULL; s = s->next)
            n += s->tag == tag;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void dcf__http_streams_shutdown(dcf_http_t *h) {
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    for (dcf__http_stream_t *s = h->streams; s != NULL; s = s->next) {
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection(s->conn);
        }
    }
    pthread_mutex_unlock(&h->mu);
}
