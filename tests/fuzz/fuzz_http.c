/* fuzz_http.c — the HTTP server as one client reaches it: each input is the
 * bytes a client sends on one connection (requests, headers, bodies, chunks,
 * pipelining, an upgrade), written over loopback TCP to the engine's real
 * server (http.c on libwebsockets, on a libuv loop) in front of a real engine
 * with one job and one breaker; then the write side is shut and the loop runs
 * until the server closes the connection. An input that names an
 * Authorization header goes to a second server, one with a token. What must
 * hold: no crash, leak or hang; the server closes within CLOSE_MS of the
 * client's end; no file outside the demo folder is served; no change is
 * accepted by the token server from a request without its token.
 * FUZZ_HTTP_ECHO=1 prints each answer (to see what an input reaches). */
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/vclock.h"
#include "conf/conf.h"
#include "core/engine.h"
#include "http/http.h"
#include "obs/obs.h"

enum {
    CLOSE_MS = 5000,      /* the server must have closed this long after the client's end */
    ANSWER_MAX = 1 << 20, /* answer bytes kept for the checks; the rest is read and dropped */
};

#define TOKEN "fuzz-token-5e1f"
#define SECRET "not-for-http-7c2a" /* in a file beside demo/, never to be served */

static struct {
    uv_loop_t loop;
    vclock_t clock;
    conf_t conf;
    engine_t *engine;
    obs_t *obs;
    http_t *open, *guarded; /* no token (loopback and Host rules), and TOKEN */
    char dir[256];
    char demo[512];
} fz;

/* One client connection's state while the loop drives it. */
typedef struct client {
    uv_poll_t poll;
    uv_timer_t deadline;
    int fd;
    const uint8_t *data;
    size_t size, sent;
    int shut;   /* the write side is shut */
    int closed; /* the server closed (EOF or reset) */
    int late;   /* the deadline passed first */
    char *answer;
    size_t answer_len;
    int handles;
} client_t;

static void write_file(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "fuzz_http: cannot write %s\n", path);
        abort();
    }
}

static void remove_dir(void) {
    if (fz.dir[0]) fs_remove_tree(fz.dir);
}

static void report(void *ud, const char *line) {
    (void)ud;
    fprintf(stderr, "fuzz_http: %s\n", line);
}

static int reload(void *ud, cJSON *answer) {
    (void)ud;
    cJSON_AddBoolToObject(answer, "fuzz_reloaded", 1);
    return 0;
}

static http_t *serve(const char *token) {
    http_opts_t o = {.listen = "127.0.0.1:0",
                     .token = token,
                     .src = {.conf = &fz.conf,
                             .clock = &fz.clock,
                             .store = fz.engine->store,
                             .sched = fz.engine->sched,
                             .circuits = fz.engine->circuits,
                             .obs = fz.obs,
                             .started_at = vclock_now(&fz.clock),
                             .version = "fuzz"},
                     .reload = reload,
                     .demo_dir = fz.demo};
    char err[512];
    http_t *h;
    if (http_start(&h, &fz.loop, &o, err, sizeof err) < 0 || http_port(h) <= 0) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    return h;
}

/* Once: a folder with engine.conf, one script and the demo site; the engine
 * on a virtual clock (nothing runs unless a request starts it) and the two
 * servers on a real loop. */
static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fz.dir, sizeof fz.dir, "%s/fuzz-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fz.dir)) abort();
    atexit(remove_dir);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/scripts", fz.dir);
    snprintf(fz.demo, sizeof fz.demo, "%s/demo", fz.dir);
    if (mkdir(sub, 0755) < 0 || mkdir(fz.demo, 0755) < 0) abort();
    snprintf(sub, sizeof sub, "%s/demo/shop", fz.dir);
    if (mkdir(sub, 0755) < 0) abort();
    write_file(fz.dir, "engine.conf",
               "scripts = \"scripts\"\n"
               "database = \":memory:\"\n"
               "breakers = { api = { failures = 2, cooldown = \"1h\" } }\n");
    write_file(fz.dir, "secret.html", SECRET "\n");
    write_file(fz.dir, "scripts/jobs.lua",
               "job 'hello' { every = '1h', breaker = 'api', run = function(ctx) return 1 end }\n"
               "job 'manual' { overlap = 'queue', run = function(ctx) return ctx.args end }\n");
    write_file(fz.demo, "index.html", "<p>demo</p>\n");
    write_file(fz.demo, "a.css", "p{}\n");
    write_file(fz.demo, "shop/index.html", "<p>shop</p>\n");

    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/engine.conf", fz.dir);
    conf_defaults(&fz.conf);
    if (conf_load(&fz.conf, path, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    const char *lua = getenv("BATON_LUA_DIR");
    snprintf(fz.conf.lua_dir, sizeof fz.conf.lua_dir, "%s", lua && *lua ? lua : "lua");

    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&fz.loop) < 0) abort();
    vclock_init(&fz.clock, NULL, 1, 1704067200.0);
    engine_opts_t eo = {.mode = ENGINE_BENCH,
                        .clock = &fz.clock,
                        .database = ":memory:",
                        .browser = ENGINE_BROWSER_NONE,
                        .report = report};
    if (engine_open(&fz.engine, &fz.conf, &eo, err, sizeof err) < 0 || fz.engine->set.errors) {
        fprintf(stderr,
                "fuzz_http: cannot open the engine (run from the repository root, or "
                "set BATON_LUA_DIR): %s\n",
                err);
        abort();
    }
    if (!(fz.obs = obs_new())) abort();
    obs_attach(fz.obs, fz.engine->sched, fz.engine->store, fz.engine->circuits);
    engine_start(fz.engine);
    fz.guarded = serve(TOKEN);
    fz.open = serve(NULL); /* the last started gets obs's events */
}

static void on_handle_closed(uv_handle_t *hd) {
    client_t *c = hd->data;
    c->handles--;
}

static void finish(client_t *c) {
    if (uv_is_active((uv_handle_t *)&c->poll)) uv_poll_stop(&c->poll);
    uv_timer_stop(&c->deadline);
}

static void on_deadline(uv_timer_t *t) {
    client_t *c = t->data;
    c->late = 1;
    finish(c);
}

static void keep(client_t *c, const char *buf, size_t n) {
    size_t room = ANSWER_MAX - c->answer_len;
    if (n > room) n = room;
    memcpy(c->answer + c->answer_len, buf, n);
    c->answer_len += n;
}

static void on_poll(uv_poll_t *p, int status, int events) {
    client_t *c = p->data;
    char buf[65536];
    if (status < 0) { /* the connection failed: the server is gone */
        c->closed = 1;
        finish(c);
        return;
    }
    if (events & UV_WRITABLE) {
        while (c->sent < c->size) {
            ssize_t n = send(c->fd, c->data + c->sent, c->size - c->sent, MSG_NOSIGNAL);
            if (n > 0) {
                c->sent += (size_t)n;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            c->sent = c->size; /* the server closed before taking it all */
        }
        if (c->sent == c->size && !c->shut) {
            shutdown(c->fd, SHUT_WR);
            c->shut = 1;
            uv_poll_start(&c->poll, UV_READABLE, on_poll);
        }
    }
    if (events & UV_READABLE) {
        for (;;) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n > 0) {
                keep(c, buf, (size_t)n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            c->closed = 1; /* EOF, or reset */
            finish(c);
            return;
        }
    }
}

/* What the input asks for: whether it names an Authorization header. */
static int has_authorization(const uint8_t *data, size_t size) {
    static const char name[] = "authorization";
    size_t n = sizeof name - 1;
    for (size_t i = 0; i + n <= size; i++)
        if (strncasecmp((const char *)data + i, name, n) == 0) return 1;
    return 0;
}

static int contains(const char *hay, size_t len, const char *needle) {
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* After each input the engine is put back as it was: triggered runs run to
 * their end (the clock does not move), their rows are dropped, the jobs are
 * resumed and the breaker closed. */
static void settle(void) {
    engine_t *e = fz.engine;
    double now = vclock_now(&fz.clock);
    for (int i = 0; i < 100 && vclock_next_due(&fz.clock) >= 0 && vclock_next_due(&fz.clock) <= now;
         i++)
        vclock_advance(&fz.clock, now);
    sched_pause(e->sched, "hello", 0);
    sched_pause(e->sched, "manual", 0);
    circuits_reset(e->circuits, "api", now);
    int64_t deleted;
    if (store_dirty(e->store)) store_flush(e->store);
    store_prune(e->store, now + 1, &deleted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char *answer;
    if (!fz.engine) {
        log_setup(LOG_OFF, 0);
        setup();
        answer = malloc(ANSWER_MAX);
        if (!answer) abort();
    }
    int guarded = has_authorization(data, size);
    http_t *h = guarded ? fz.guarded : fz.open;
    client_t c = {.data = data, .size = size, .answer = answer};
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) abort();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)http_port(h))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c.fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) abort();
    uv_poll_init_socket(&fz.loop, &c.poll, c.fd);
    uv_timer_init(&fz.loop, &c.deadline);
    c.poll.data = c.deadline.data = &c;
    c.handles = 2;
    uv_poll_start(&c.poll, UV_READABLE | UV_WRITABLE, on_poll);
    uv_timer_start(&c.deadline, on_deadline, CLOSE_MS, 0);
    while (!c.closed && !c.late) uv_run(&fz.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&c.poll, on_handle_closed);
    uv_close((uv_handle_t *)&c.deadline, on_handle_closed);
    while (c.handles) uv_run(&fz.loop, UV_RUN_ONCE);
    struct linger now = {1, 0}; /* no TIME_WAIT: many thousands of connections follow */
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
    close(c.fd);
    uv_run(&fz.loop, UV_RUN_NOWAIT); /* lws finishes its side */
    settle();

    static int echo = -1;
    if (echo < 0) echo = getenv("FUZZ_HTTP_ECHO") != NULL;
    if (echo)
        fprintf(stderr, "---- answer (%zu bytes)\n%.*s\n", c.answer_len, (int)c.answer_len,
                c.answer);
    if (c.late) {
        fprintf(stderr, "fuzz_http: the server kept the connection %d ms after the client's end\n",
                CLOSE_MS);
        abort();
    }
    /* as a body: an error's JSON may quote the path, and so the secret too */
    if (contains(c.answer, c.answer_len, "\r\n\r\n" SECRET "\n")) {
        fprintf(stderr, "fuzz_http: a file outside the demo folder was served\n");
        abort();
    }
    if (guarded && !contains((const char *)data, size, "Bearer " TOKEN) &&
        (contains(c.answer, c.answer_len, "\"triggered\":true") ||
         contains(c.answer, c.answer_len, "\"changed\":") ||
         contains(c.answer, c.answer_len, "\"fuzz_reloaded\"") ||
         contains(c.answer, c.answer_len, "{\"breaker\":"))) {
        fprintf(stderr, "fuzz_http: a change was accepted without the token\n");
        abort();
    }
    return 0;
}
