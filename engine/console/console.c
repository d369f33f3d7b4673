/* console.c — the console socket: a unix socket server on the engine's loop
 * (one session and Lua state per connection, newline-delimited JSON, bounded
 * lines and write queues) and the `baton console` client that talks to it.
 * The socket is made under umask 0177 so it is never wider than 0600. */
#include "console.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <editline/readline.h>

#include "base/secret.h"
#include "base/list.h"
#include "base/log.h"

enum {
    READ_CHUNK = 64 << 10,
    WRITE_QUEUE_MAX = 4 << 20, /* replies a client leaves unread before we stop reading it */
    HISTORY_MAX = 1000,        /* entries kept in ~/.baton_history */
    REPLY_MAX = 256 << 20      /* the client refuses a longer reply line */
};

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_UNREACHABLE = 3 };

typedef struct session {
    uv_pipe_t pipe;
    uv_shutdown_t shutdown;
    console_t *con;
    list_t link; /* on console_t.sessions until closed */
    char *in;    /* bytes received, not yet a whole line */
    size_t in_len, in_cap, scanned;
    console_eval_t *ev; /* made at the first request */
    int reading, paused, eof, ending, closing;
} session_t;

typedef struct write_req {
    uv_write_t req;
    session_t *s;
    char data[];
} write_req_t;

struct console {
    uv_loop_t *loop;
    uv_pipe_t listener;
    console_env_t env;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;       /* of the socket file we made: removed at stop only if still ours */
    list_t sessions; /* open ones, newest first */
    size_t nsessions;
    int listening;    /* listener initialised */
    int open_handles; /* handles whose close callback has not run */
    int stopped;
};

/* ---- requests ---- */

int console_request_parse(const char *line, size_t len, char **chunk, size_t *chunk_len, char *err,
                          size_t errlen) {
    *chunk = NULL;
    *chunk_len = 0;
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    while (req && end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r')) end++;
    if (req && end != line + len) { /* one value per line, nothing after it */
        cJSON_Delete(req);
        req = NULL;
    }
    if (!req) {
        snprintf(err, errlen, "console: bad request: not JSON (send {\"chunk\": \"...\"})");
        return -EINVAL;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "chunk");
    if (!cJSON_IsObject(req) || !cJSON_IsString(c)) {
        snprintf(err, errlen, "console: bad request: expected {\"chunk\": \"...\"}");
        cJSON_Delete(req);
        return -EINVAL;
    }
    *chunk_len = strlen(c->valuestring);
    *chunk = strdup(c->valuestring);
    cJSON_Delete(req);
    if (!*chunk) {
        snprintf(err, errlen, "console: out of memory");
        return -ENOMEM;
    }
    return 0;
}

int console_chunk_incomplete(lua_State *L, const char *chunk, size_t len) {
    int top = lua_gettop(L), incomplete = 0;
    char *ret = malloc(len + 8);
    if (!ret) return 0;
    memcpy(ret, "return ", 7);
    memcpy(ret + 7, chunk, len);
    int st = luaL_loadbufferx(L, ret, len + 7, "=console", "t");
    free(ret);
    if (st == LUA_OK) {
        lua_settop(L, top);
        return 0;
    }
    if (luaL_loadbufferx(L, chunk, len, "=console", "t") == LUA_OK) {
        lua_settop(L, top);
        return 0;
    }
    /* either reading stopped at the end: `1 +` and `for i = 1, 2 do` both wait for more */
    for (int i = top + 1; i <= lua_gettop(L); i++) {
        size_t n;
        const char *msg = lua_tolstring(L, i, &n);
        if (msg && n >= 5 && strcmp(msg + n - 5, "<eof>") == 0) incomplete = 1;
    }
    lua_settop(L, top);
    return incomplete;
}

/* ---- sessions ---- */

static void pump(session_t *s);

static void on_session_closed(uv_handle_t *h) {
    session_t *s = h->data;
    s->con->open_handles--;
    console_eval_free(s->ev);
    free(s->in);
    free(s);
}

static void session_close(session_t *s) {
    if (s->closing) return;
    s->closing = 1;
    console_t *c = s->con;
    list_remove(&s->link);
    c->nsessions--;
    uv_close((uv_handle_t *)&s->pipe, on_session_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    session_close(req->data);
}

/* Closes the session once the replies queued so far are written. */
static void session_end(session_t *s) {
    if (s->ending || s->closing) return;
    s->ending = 1;
    if (s->reading) uv_read_stop((uv_stream_t *)&s->pipe);
    s->reading = 0;
    s->shutdown.data = s;
    if (uv_shutdown(&s->shutdown, (uv_stream_t *)&s->pipe, on_shutdown) < 0) session_close(s);
}

static void on_written(uv_write_t *req, int status) {
    write_req_t *w = (write_req_t *)req;
    session_t *s = w->s;
    free(w);
    if (s->closing) return;
    if (status < 0) {
        session_close(s);
        return;
    }
    if (s->paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&s->pipe) <= WRITE_QUEUE_MAX / 2) {
        s->paused = 0;
        pump(s);
    }
}

static void send_reply(session_t *s, cJSON *reply) {
    char *text = reply ? cJSON_PrintUnformatted(reply) : NULL, *redacted = NULL;
    cJSON_Delete(reply);
    size_t n = text ? strlen(text) : 0;
    /* An answer never shows a secret's value, whatever the expression was. */
    const char *out = text ? secret_redact_or_drop(text, n, &n, &redacted) : NULL;
    write_req_t *w = text ? malloc(sizeof *w + n + 1) : NULL;
    if (!w) {
        free(text);
        free(redacted);
        session_close(s); /* out of memory: the client sees the connection drop */
        return;
    }
    memcpy(w->data, out, n);
    w->data[n] = '\n';
    free(text);
    free(redacted);
    w->s = s;
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)(n + 1));
    if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &buf, 1, on_written) < 0) {
        free(w);
        session_close(s);
    }
}

static void send_error(session_t *s, const char *msg) {
    cJSON *reply = cJSON_CreateObject();
    if (reply) {
        cJSON_AddBoolToObject(reply, "ok", 0);
        cJSON_AddStringToObject(reply, "out", "");
        cJSON_AddStringToObject(reply, "error", msg);
    }
    send_reply(s, reply);
}

static void handle_line(session_t *s, const char *line, size_t len) {
    char err[1024], *chunk;
    size_t chunk_len;
    if (len && line[len - 1] == '\r') len--;
    if (console_request_parse(line, len, &chunk, &chunk_len, err, sizeof err) < 0) {
        send_error(s, err);
        return;
    }
    if (!s->ev && console_eval_new(&s->ev, &s->con->env, err, sizeof err) < 0) {
        log_error("%s", err);
        free(chunk);
        send_error(s, err);
        return;
    }
    send_reply(s, console_eval_chunk(s->ev, chunk, chunk_len));
    free(chunk);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    session_t *s = h->data;
    (void)suggested;
    if (s->in_cap - s->in_len < READ_CHUNK) {
        size_t cap = s->in_len + READ_CHUNK;
        char *more = realloc(s->in, cap);
        if (!more) {
            *buf = uv_buf_init(NULL, 0); /* the read callback gets UV_ENOBUFS */
            return;
        }
        s->in = more;
        s->in_cap = cap;
    }
    *buf = uv_buf_init(s->in + s->in_len, (unsigned)(s->in_cap - s->in_len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    session_t *s = stream->data;
    (void)buf;
    if (s->closing || s->ending) return;
    if (nread > 0) {
        s->in_len += (size_t)nread;
    } else if (nread == UV_EOF) {
        s->eof = 1;
        uv_read_stop(stream);
        s->reading = 0;
    } else if (nread < 0) {
        session_close(s);
        return;
    }
    pump(s);
}

static void reading(session_t *s, int on) {
    if (on && !s->reading && !s->eof)
        s->reading = uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read) == 0;
    else if (!on && s->reading) {
        uv_read_stop((uv_stream_t *)&s->pipe);
        s->reading = 0;
    }
}

/* Answers every whole line received, one at a time, while the client keeps
 * up with the replies; reads on when it needs more. */
static void pump(session_t *s) {
    char msg[128];
    while (!s->ending && !s->closing) {
        if (uv_stream_get_write_queue_size((uv_stream_t *)&s->pipe) > WRITE_QUEUE_MAX) {
            s->paused = 1;
            reading(s, 0);
            return;
        }
        char *nl = memchr(s->in + s->scanned, '\n', s->in_len - s->scanned);
        size_t n = nl ? (size_t)(nl - s->in) : s->in_len;
        if (n > CONSOLE_MAX_LINE) {
            snprintf(msg, sizeof msg, "console: request line over %d bytes: closing the connection",
                     CONSOLE_MAX_LINE);
            send_error(s, msg);
            session_end(s);
            return;
        }
        if (!nl) {
            s->scanned = s->in_len;
            if (s->eof) {
                if (s->in_len) handle_line(s, s->in, s->in_len); /* a last line without \n */
                s->in_len = s->scanned = 0;
                session_end(s);
                return;
            }
            reading(s, 1);
            return;
        }
        handle_line(s, s->in, n);
        s->in_len -= n + 1;
        memmove(s->in, nl + 1, s->in_len);
        s->scanned = 0;
    }
}

static void on_connection(uv_stream_t *server, int status) {
    console_t *c = server->data;
    if (status < 0 || c->stopped) return;
    session_t *s = calloc(1, sizeof *s);
    if (!s) return;
    uv_pipe_init(c->loop, &s->pipe, 0);
    s->pipe.data = s;
    s->con = c;
    c->open_handles++;
    list_push_front(&c->sessions, &s->link);
    c->nsessions++;
    if (uv_accept(server, (uv_stream_t *)&s->pipe) < 0) {
        session_close(s);
        return;
    }
    if (c->nsessions > CONSOLE_MAX_CLIENTS) {
        char msg[128];
        snprintf(msg, sizeof msg, "console: too many sessions (%d at once); try again later",
                 CONSOLE_MAX_CLIENTS);
        send_error(s, msg);
        session_end(s);
        return;
    }
    reading(s, 1);
}

/* ---- the socket ---- */

/* Clears the way for a new socket at path: a stale one (connect refused) is
 * removed; a live one, or a file that is not a socket, is an error. */
static int clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen) {
    const char *path = sa->sun_path;
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "console: cannot use socket %s: %s", path, strerror(errno));
        return -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen,
                 "console: %s exists and is not a socket (move it or set console.socket)", path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "console: socket: %s", strerror(errno));
        return -errno;
    }
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ? 0 : -errno;
    close(fd);
    if (rc == -ECONNREFUSED) {
        if (unlink(path) < 0 && errno != ENOENT) {
            snprintf(err, errlen, "console: cannot remove the stale socket %s: %s", path,
                     strerror(errno));
            return -errno;
        }
        log_info("console: replaced the stale socket %s (left by an engine that did not stop)",
                 path);
        return 0;
    }
    if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS) {
        snprintf(err, errlen, "console: another engine is listening on %s (console.socket)", path);
        return -EADDRINUSE;
    }
    snprintf(err, errlen, "console: cannot use socket %s: %s", path, strerror(-rc));
    return rc;
}

/* socket, bind under umask 0177, listen. Returns the fd or a negative code. */
static int bind_socket(const struct sockaddr_un *sa, char *err, size_t errlen) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "console: socket: %s", strerror(errno));
        return -errno;
    }
    mode_t old = umask(0177);
    int rc = bind(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ? 0 : -errno;
    umask(old);
    if (rc == 0 && listen(fd, 64) < 0) {
        rc = -errno;
        unlink(sa->sun_path);
    }
    if (rc < 0) {
        snprintf(err, errlen, "console: cannot listen on %s: %s", sa->sun_path, strerror(-rc));
        close(fd);
        return rc;
    }
    return fd;
}

static void on_listener_closed(uv_handle_t *h) {
    console_t *c = h->data;
    c->open_handles--;
}

int console_start(console_t **out, uv_loop_t *loop, const char *path, const console_env_t *env,
                  char *err, size_t errlen) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    *out = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "console: console.socket is empty");
        return -EINVAL;
    }
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "console: socket path too long (%zu bytes, at most %zu): %s",
                 strlen(path), sizeof sa.sun_path - 1, path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = clear_stale(&sa, err, errlen);
    if (rc < 0) return rc;
    int fd = bind_socket(&sa, err, errlen);
    if (fd < 0) return fd;
    console_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        unlink(path);
        snprintf(err, errlen, "console: out of memory");
        return -ENOMEM;
    }
    c->loop = loop;
    list_init(&c->sessions);
    c->env = *env;
    memcpy(c->path, sa.sun_path, sizeof c->path);
    if (stat(path, &st) == 0) {
        c->dev = st.st_dev;
        c->ino = st.st_ino;
    }
    uv_pipe_init(loop, &c->listener, 0);
    c->listener.data = c;
    c->listening = 1;
    c->open_handles++;
    *out = c; /* from here on the caller stops and frees it, started or not */
    rc = uv_pipe_open(&c->listener, fd);
    if (rc < 0) close(fd); /* else the handle owns it */
    if (rc == 0) rc = uv_listen((uv_stream_t *)&c->listener, 64, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "console: cannot listen on %s: %s", path, uv_strerror(rc));
        return rc;
    }
    log_info("console: listening on %s", path);
    return 0;
}

void console_stop(console_t *c) {
    struct stat st;
    if (!c || c->stopped) return;
    c->stopped = 1;
    while (!list_empty(&c->sessions)) session_close(list_entry(c->sessions.next, session_t, link));
    if (c->listening) uv_close((uv_handle_t *)&c->listener, on_listener_closed);
    c->listening = 0;
    /* Another engine may have taken the path since (after a stale check): leave its socket. */
    if (c->ino && stat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
        unlink(c->path);
}

void console_free(console_t *c) {
    if (!c) return;
    console_stop(c);
    if (c->open_handles) {
        log_error("internal: console freed with %d handle(s) still closing", c->open_handles);
        return; /* leaked rather than freed under libuv */
    }
    free(c);
}

/* ---- the client ---- */

typedef struct conn {
    int fd;
    const char *path;
    char *buf; /* bytes read; the first `consumed` were the last reply */
    size_t len, cap, consumed;
} conn_t;

static int conn_send(conn_t *cn, const char *chunk) {
    cJSON *req = cJSON_CreateObject();
    char *text = NULL;
    if (req && cJSON_AddStringToObject(req, "chunk", chunk)) text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!text) return -ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n'; /* over the terminating NUL: sent as n + 1 bytes */
    int rc = 0;
    for (size_t off = 0; off < n + 1 && rc == 0;) {
        ssize_t w = send(cn->fd, text + off, n + 1 - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EINTR) rc = -errno;
        if (w > 0) off += (size_t)w;
    }
    free(text);
    return rc;
}

/* Reads one reply line (NUL-terminated in place of its newline) into *line,
 * valid until the next call. Returns 0, or < 0 when the engine went away. */
static int conn_recv(conn_t *cn, char **line) {
    if (cn->consumed) {
        memmove(cn->buf, cn->buf + cn->consumed, cn->len - cn->consumed);
        cn->len -= cn->consumed;
        cn->consumed = 0;
    }
    size_t scanned = 0;
    for (;;) {
        char *nl = cn->len ? memchr(cn->buf + scanned, '\n', cn->len - scanned) : NULL;
        if (nl) {
            *nl = 0;
            *line = cn->buf;
            cn->consumed = (size_t)(nl - cn->buf) + 1;
            return 0;
        }
        scanned = cn->len;
        if (cn->cap - cn->len < READ_CHUNK) {
            if (cn->cap > REPLY_MAX) return -EMSGSIZE;
            size_t cap = cn->cap ? cn->cap * 2 : READ_CHUNK * 2;
            char *more = realloc(cn->buf, cap);
            if (!more) return -ENOMEM;
            cn->buf = more;
            cn->cap = cap;
        }
        ssize_t r = recv(cn->fd, cn->buf + cn->len, cn->cap - cn->len, 0);
        if (r == 0) return -EPIPE;
        if (r < 0 && errno != EINTR) return -errno;
        if (r > 0) cn->len += (size_t)r;
    }
}

static int gone(const conn_t *cn) {
    fflush(stdout);
    fprintf(stderr, "baton: the engine went away (console socket %s)\n", cn->path);
    return EXIT_UNREACHABLE;
}

/* Sends one chunk and prints the reply: out, then values, to stdout; the
 * error to stderr. Returns EXIT_OK, EXIT_FAILED or EXIT_UNREACHABLE. */
static int roundtrip(conn_t *cn, const char *chunk) {
    char *line = NULL;
    if (conn_send(cn, chunk) < 0 || conn_recv(cn, &line) < 0) return gone(cn);
    cJSON *reply = cJSON_Parse(line);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(reply, "out");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(reply, "values");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(reply, "error");
    if (!cJSON_IsBool(ok)) {
        cJSON_Delete(reply);
        fprintf(stderr, "baton: the engine's console sent a reply that is not one\n");
        return EXIT_FAILED;
    }
    if (cJSON_IsString(out)) fputs(out->valuestring, stdout);
    if (cJSON_IsString(values) && values->valuestring[0]) printf("%s\n", values->valuestring);
    fflush(stdout);
    int rc = cJSON_IsTrue(ok) ? EXIT_OK : EXIT_FAILED;
    if (!cJSON_IsTrue(ok))
        fprintf(stderr, "%s\n", cJSON_IsString(error) ? error->valuestring : "error");
    cJSON_Delete(reply);
    return rc;
}

/* A chunk being typed: lines joined with \n. */
typedef struct pending {
    char *text;
    size_t len, cap;
} pending_t;

static int pending_add(pending_t *p, const char *line) {
    size_t n = strlen(line), need = p->len + n + 2;
    if (need > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < need) cap *= 2;
        char *more = realloc(p->text, cap);
        if (!more) return -ENOMEM;
        p->text = more;
        p->cap = cap;
    }
    if (p->len) p->text[p->len++] = '\n';
    memcpy(p->text + p->len, line, n + 1);
    p->len += n;
    return 0;
}

static int blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    return 1;
}

static int is_exit(const char *line) {
    while (*line == ' ' || *line == '\t') line++;
    size_t n = strlen(line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')) n--;
    return n == 5 && strncmp(line, ".exit", 5) == 0;
}

static void history_path(char *out, size_t len) {
    const char *home = getenv("HOME");
    out[0] = 0;
    if (home && *home) snprintf(out, len, "%s/.baton_history", home);
}

static int interactive(conn_t *cn) {
    char hist[4200];
    pending_t p = {0};
    int rc = EXIT_OK;
    lua_State *L = luaL_newstate();
    if (!L) return EXIT_FAILED;
    history_path(hist, sizeof hist);
    using_history();
    stifle_history(HISTORY_MAX);
    if (hist[0]) read_history(hist);
    for (;;) {
        char *line = readline(p.len ? ">> " : "baton> ");
        if (!line) {
            putchar('\n');
            break;
        }
        if (!p.len && is_exit(line)) {
            free(line);
            break;
        }
        int added = pending_add(&p, line);
        free(line);
        if (added < 0) break;
        if (console_chunk_incomplete(L, p.text, p.len)) continue;
        if (!blank(p.text)) {
            add_history(p.text);
            if (roundtrip(cn, p.text) == EXIT_UNREACHABLE) {
                rc = EXIT_UNREACHABLE;
                break;
            }
        }
        p.len = 0;
    }
    if (hist[0]) {
        /* the history may hold secrets typed at the prompt: keep it private */
        int fd = open(hist, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
        write_history(hist);
    }
    free(p.text);
    lua_close(L);
    return rc;
}

static int piped(conn_t *cn) {
    pending_t p = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = EXIT_OK;
    lua_State *L = luaL_newstate();
    if (!L) return EXIT_FAILED;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n && line[n - 1] == '\n') line[--n] = 0;
        if (!p.len && is_exit(line)) break;
        if (pending_add(&p, line) < 0) {
            rc = EXIT_FAILED;
            break;
        }
        if (console_chunk_incomplete(L, p.text, p.len)) continue;
        if (!blank(p.text)) {
            int r = roundtrip(cn, p.text);
            if (r == EXIT_UNREACHABLE) {
                rc = r;
                goto out;
            }
            if (r != EXIT_OK) rc = EXIT_FAILED;
        }
        p.len = 0;
    }
    /* an unfinished chunk at the end: the engine says what is missing */
    if (p.len && !blank(p.text)) {
        int r = roundtrip(cn, p.text);
        if (r != EXIT_OK) rc = r;
    }
out:
    free(line);
    free(p.text);
    lua_close(L);
    return rc;
}

int console_client(const conf_t *conf, const char *chunk) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = conf->console_socket;
    conn_t cn = {.fd = -1, .path = path};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "baton: console socket path too long (%zu bytes, at most %zu): %s\n",
                strlen(path), sizeof sa.sun_path - 1, path);
        return EXIT_UNREACHABLE;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cn.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cn.fd < 0 || connect(cn.fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr,
                "baton: no engine is running: nothing listens on the console socket %s (%s)\n",
                path, strerror(errno));
        if (cn.fd >= 0) close(cn.fd);
        return EXIT_UNREACHABLE;
    }
    int rc;
    if (chunk)
        rc = roundtrip(&cn, chunk);
    else if (isatty(STDIN_FILENO))
        rc = interactive(&cn);
    else
        rc = piped(&cn);
    close(cn.fd);
    free(cn.buf);
    return rc;
}
