/* conf.c — loads engine.conf: evaluates it in a Lua state with no libraries, a capped
 * allocator and an instruction limit, then validates what it assigned against one schema
 * table. Owns the copies of browser.args, .endpoints and .schemes it hands out. */
#include "conf.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/secret.h"
#include "base/units.h"

#define CONF_MEMORY_LIMIT (16u << 20) /* bytes the evaluation may hold at once */
#define CONF_MAX_INSTRUCTIONS 5000000 /* Lua VM instructions before "endless loop" */
#define CONF_MAX_SOURCE (1u << 20)    /* bytes of engine.conf read at most */
#define CONF_MAX_DEPTH 8              /* key nesting, e.g. breakers.NAME.failures = 3 */
#define MS 0.001
#define MINUTE 60.0
#define HOUR 3600.0
#define DAY 86400.0
#define GB (1ll << 30)

/* ---- the schema: every key, its kind, where it lands ---- */

typedef enum {
    K_TABLE,     /* a table of the keys in fields, at base + offset */
    K_STRING,    /* char[size] */
    K_PATH,      /* char[size], resolved against the file's directory */
    K_ENUM,      /* int: index into choices */
    K_ENUM_NAME, /* char[size]: the chosen name itself */
    K_INT,       /* int in [min, max] */
    K_DURATION,  /* double seconds in [dmin, dmax] */
    K_SIZE,      /* size_t bytes in [min, max] */
    K_LIST,      /* char *[CONF_MAX_LIST] at offset, int count at size */
    K_BREAKERS,  /* name -> table of fields, into conf_t.breakers */
    K_BOOL,      /* int: 0 or 1, from a Lua boolean */
    K_SECRETS    /* name -> { env = VAR } or { file = PATH }, into conf_t.secrets */
} conf_kind_t;

enum {
    F_NONEMPTY = 1, /* "" refused */
    F_WHOLE = 2,    /* duration in whole seconds */
    F_ZERO_OK = 4,  /* 0 allowed below min (means "no limit" or "off") */
    F_MEMORY = 8,   /* ":memory:" kept as is */
    F_LISTEN = 16,  /* HOST:PORT */
    F_URL = 32,     /* list items are ws(s):// or http(s):// URLs */
    F_SCHEME = 64,  /* list items are URL scheme names, lower case ("https") */
    F_USER = 128,   /* a user of this system (getpwnam), into conf_t.browser.user_* */
    F_PROXY = 256,  /* "" or a proxy URL: http, https, socks4(a), socks5(h) */
    F_EMPTY = 512   /* K_PATH: "" kept as is (none), not resolved */
};

typedef struct conf_field {
    const char *name;
    conf_kind_t kind;
    size_t offset;                   /* from the enclosing table's base */
    size_t size;                     /* buffer bytes; for K_LIST the offset of the count */
    long long min, max;              /* K_INT, K_SIZE range */
    double dmin, dmax;               /* K_DURATION range, seconds */
    const char *const *choices;      /* K_ENUM, K_ENUM_NAME; NULL-terminated */
    const struct conf_field *fields; /* K_TABLE, K_BREAKERS; NULL-terminated by name */
    int flags;
} conf_field_t;

#define C_(m) offsetof(conf_t, m)
#define CSZ(m) sizeof(((conf_t *)0)->m)
#define R_(m) offsetof(conf_retry_t, m)
#define RSZ(m) sizeof(((conf_retry_t *)0)->m)
#define B_(m) offsetof(conf_breaker_t, m)

static const char *const conf_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const conf_formats[] = {"text", "json", NULL};
static const char *const conf_backoffs[] = {"exponential", "linear", "constant", NULL};
static const char *const conf_raw_cdp[] = {"page", "any", NULL};
static const char *const conf_jitters[] = {"none", "full", "equal", "decorrelated", NULL};

static const conf_field_t conf_log[] = {
    {.name = "level", .kind = K_ENUM, .offset = C_(log_level), .choices = conf_levels},
    {.name = "format", .kind = K_ENUM, .offset = C_(log_json), .choices = conf_formats},
    {0}};

static const conf_field_t conf_http[] = {
    {.name = "listen",
     .kind = K_STRING,
     .offset = C_(http_listen),
     .size = CSZ(http_listen),
     .flags = F_LISTEN},
    {.name = "token", .kind = K_STRING, .offset = C_(http_token), .size = CSZ(http_token)},
    {0}};

static const conf_field_t conf_console[] = {{.name = "socket",
                                             .kind = K_PATH,
                                             .offset = C_(console_socket),
                                             .size = CSZ(console_socket),
                                             .flags = F_NONEMPTY},
                                            {0}};

static const conf_field_t conf_limits[] = {
    {.name = "max_concurrent_runs",
     .kind = K_INT,
     .offset = C_(max_concurrent_runs),
     .min = 1,
     .max = 10000},
    {.name = "shutdown_timeout", .kind = K_DURATION, .offset = C_(shutdown_timeout), .dmax = HOUR},
    {.name = "retention", .kind = K_DURATION, .offset = C_(retention), .dmax = 3650 * DAY},
    {0}};

static const conf_field_t conf_sandbox[] = {
    {.name = "memory",
     .kind = K_SIZE,
     .offset = C_(sandbox_memory),
     .min = 1 << 20,
     .max = 64 * GB,
     .flags = F_ZERO_OK},
    {.name = "cpu_slice", .kind = K_DURATION, .offset = C_(cpu_slice), .dmax = MINUTE},
    {0}};

static const conf_field_t conf_reserve[] = {
    {.name = "critical", .kind = K_INT, .offset = C_(browser.reserve_critical), .max = 1024},
    {.name = "high", .kind = K_INT, .offset = C_(browser.reserve_high), .max = 1024},
    {0}};

static const conf_field_t conf_browser[] = {
    {.name = "executable",
     .kind = K_STRING,
     .offset = C_(browser.executable),
     .size = CSZ(browser.executable)},
    {.name = "args", .kind = K_LIST, .offset = C_(browser.args), .size = C_(browser.nargs)},
    {.name = "user",
     .kind = K_STRING,
     .offset = C_(browser.user),
     .size = CSZ(browser.user),
     .flags = F_NONEMPTY | F_USER},
    {.name = "endpoints",
     .kind = K_LIST,
     .offset = C_(browser.endpoints),
     .size = C_(browser.nendpoints),
     .flags = F_URL},
    {.name = "raw_cdp",
     .kind = K_ENUM_NAME,
     .offset = C_(browser.raw_cdp),
     .size = CSZ(browser.raw_cdp),
     .choices = conf_raw_cdp},
    {.name = "schemes",
     .kind = K_LIST,
     .offset = C_(browser.schemes),
     .size = C_(browser.nschemes),
     .flags = F_SCHEME},
    {.name = "browsers", .kind = K_INT, .offset = C_(browser.browsers), .min = 1, .max = 64},
    {.name = "max_pages", .kind = K_INT, .offset = C_(browser.max_pages), .min = 1, .max = 1024},
    /* max_contexts: the old name of max_pages, kept for existing files */
    {.name = "max_contexts", .kind = K_INT, .offset = C_(browser.max_pages), .min = 1, .max = 1024},
    {.name = "reserve", .kind = K_TABLE, .fields = conf_reserve},
    {.name = "burst", .kind = K_INT, .offset = C_(browser.burst), .max = 1024},
    {.name = "idle_timeout", .kind = K_DURATION, .offset = C_(browser.idle_timeout), .dmax = DAY},
    {.name = "max_uses", .kind = K_INT, .offset = C_(browser.max_uses), .min = 1, .max = 1000000},
    {.name = "acquire_timeout",
     .kind = K_DURATION,
     .offset = C_(browser.acquire_timeout),
     .dmax = HOUR},
    {.name = "heartbeat", .kind = K_DURATION, .offset = C_(browser.heartbeat), .dmax = HOUR},
    {.name = "warm", .kind = K_INT, .offset = C_(browser.warm), .max = 1024},
    {.name = "pages_per_context",
     .kind = K_INT,
     .offset = C_(browser.pages_per_context),
     .min = 1,
     .max = 1024},
    {0}};

static const conf_field_t conf_retry[] = {
    {.name = "attempts", .kind = K_INT, .offset = R_(attempts), .min = 1, .max = 1000},
    {.name = "backoff",
     .kind = K_ENUM_NAME,
     .offset = R_(backoff),
     .size = RSZ(backoff),
     .choices = conf_backoffs},
    {.name = "base", .kind = K_DURATION, .offset = R_(base), .dmax = HOUR},
    {.name = "max", .kind = K_DURATION, .offset = R_(max), .dmax = DAY},
    {.name = "jitter",
     .kind = K_ENUM_NAME,
     .offset = R_(jitter),
     .size = RSZ(jitter),
     .choices = conf_jitters},
    {0}};

static const conf_field_t conf_retry_budget[] = {
    {.name = "percent", .kind = K_INT, .offset = C_(retry_budget.percent), .max = 1000},
    {.name = "floor", .kind = K_INT, .offset = C_(retry_budget.floor), .max = 100000},
    {.name = "window",
     .kind = K_DURATION,
     .offset = C_(retry_budget.window),
     .dmin = 1,
     .dmax = CONF_RETRY_WINDOW_MAX,
     .flags = F_WHOLE},
    {0}};

static const conf_field_t conf_defaults_keys[] = {
    {.name = "timeout",
     .kind = K_DURATION,
     .offset = C_(default_timeout),
     .dmin = MS,
     .dmax = 7 * DAY},
    {.name = "retry", .kind = K_TABLE, .offset = C_(default_retry), .fields = conf_retry},
    {.name = "retry_budget", .kind = K_TABLE, .fields = conf_retry_budget},
    {0}};

static const conf_field_t conf_breaker[] = {
    {.name = "failures", .kind = K_INT, .offset = B_(failures), .min = 1, .max = 1000000},
    {.name = "cooldown", .kind = K_DURATION, .offset = B_(cooldown), .dmin = MS, .dmax = 7 * DAY},
    {.name = "window_calls", .kind = K_INT, .offset = B_(window_calls), .max = 1024},
    {.name = "window_time",
     .kind = K_DURATION,
     .offset = B_(window_time),
     .dmin = 1,
     .dmax = BREAKER_MAX_TIME_WINDOW,
     .flags = F_WHOLE | F_ZERO_OK},
    {.name = "min_calls", .kind = K_INT, .offset = B_(min_calls), .min = 1, .max = 1000000},
    {.name = "failure_rate", .kind = K_INT, .offset = B_(failure_rate), .min = 1, .max = 100},
    {.name = "slow_call", .kind = K_DURATION, .offset = B_(slow_call), .dmax = HOUR},
    {.name = "probes", .kind = K_INT, .offset = B_(probes), .min = 1, .max = 1000},
    {0}};

static const conf_field_t conf_http_client[] = {{.name = "max_connections",
                                                 .kind = K_INT,
                                                 .offset = C_(http_client.max_connections),
                                                 .min = 1,
                                                 .max = 10000},
                                                {.name = "max_per_host",
                                                 .kind = K_INT,
                                                 .offset = C_(http_client.max_per_host),
                                                 .min = 1,
                                                 .max = 10000},
                                                {.name = "timeout",
                                                 .kind = K_DURATION,
                                                 .offset = C_(http_client.timeout),
                                                 .dmin = MS,
                                                 .dmax = HOUR},
                                                {.name = "max_bytes",
                                                 .kind = K_SIZE,
                                                 .offset = C_(http_client.max_bytes),
                                                 .min = 1024,
                                                 .max = 1LL << 30},
                                                {.name = "proxy",
                                                 .kind = K_STRING,
                                                 .offset = C_(http_client.proxy),
                                                 .size = CSZ(http_client.proxy),
                                                 .flags = F_PROXY},
                                                {.name = "ca_file",
                                                 .kind = K_PATH,
                                                 .offset = C_(http_client.ca_file),
                                                 .size = CSZ(http_client.ca_file),
                                                 .flags = F_EMPTY},
                                                {0}};

#define S_(m) offsetof(conf_secret_t, m)
static const conf_field_t conf_secret[] = {{.name = "env",
                                            .kind = K_STRING,
                                            .offset = S_(env),
                                            .size = sizeof(((conf_secret_t *)0)->env),
                                            .flags = F_NONEMPTY},
                                           {.name = "file",
                                            .kind = K_PATH,
                                            .offset = S_(file),
                                            .size = sizeof(((conf_secret_t *)0)->file),
                                            .flags = F_NONEMPTY},
                                           {0}};

static const conf_field_t conf_top[] = {
    {.name = "scripts",
     .kind = K_PATH,
     .offset = C_(scripts),
     .size = CSZ(scripts),
     .flags = F_NONEMPTY},
    {.name = "watch", .kind = K_BOOL, .offset = C_(watch)},
    {.name = "database",
     .kind = K_PATH,
     .offset = C_(database),
     .size = CSZ(database),
     .flags = F_NONEMPTY | F_MEMORY},
    {.name = "log", .kind = K_TABLE, .fields = conf_log},
    {.name = "http", .kind = K_TABLE, .fields = conf_http},
    {.name = "console", .kind = K_TABLE, .fields = conf_console},
    {.name = "limits", .kind = K_TABLE, .fields = conf_limits},
    {.name = "sandbox", .kind = K_TABLE, .fields = conf_sandbox},
    {.name = "browser", .kind = K_TABLE, .fields = conf_browser},
    {.name = "defaults", .kind = K_TABLE, .fields = conf_defaults_keys},
    {.name = "breakers", .kind = K_BREAKERS, .fields = conf_breaker},
    {.name = "http_client", .kind = K_TABLE, .fields = conf_http_client},
    {.name = "secrets", .kind = K_SECRETS, .fields = conf_secret},
    {0}};

/* ---- the loader ---- */

/* A "name =" found in the source: where a key is written, for error lines. */
typedef struct conf_mark {
    const char *name;
    size_t len;
    size_t offset;
    int line;
    int depth; /* '{' nesting at the name */
} conf_mark_t;

typedef struct conf_key {
    const char *name;
    size_t len;
} conf_key_t;

typedef struct conf_loader {
    const char *path;
    char chunkname[sizeof((conf_t *)0)->path + 1];
    char dir[sizeof((conf_t *)0)->path]; /* "" when the file is in the cwd */
    char *src;
    size_t len;
    conf_t *conf; /* the copy being filled */
    lua_State *L;
    size_t mem, mem_limit;
    int mem_refused, mem_line; /* the cap was hit, at this line */
    conf_mark_t *marks;
    size_t nmarks;
    int stmt_line;                   /* line Lua gave the top-level assignment */
    conf_key_t keys[CONF_MAX_DEPTH]; /* the key being read, outermost first */
    int nkeys;
    char name[512]; /* keys joined with '.' */
    int nerrors, err_line, nomem;
    size_t err_offset;
    char msg[1024];
} conf_loader_t;

static conf_loader_t *loader_of(lua_State *L) {
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* The line of the innermost Lua function running, or 0. */
static int current_line(lua_State *L) {
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "l", &ar) && ar.currentline > 0) return ar.currentline;
    }
    return 0;
}

static void *conf_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    conf_loader_t *ld = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        ld->mem -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > ld->mem_limit - ld->mem) {
        /* Only reads the call stack: safe here, nothing has been changed yet. */
        ld->mem_refused = 1;
        ld->mem_line = ld->L ? current_line(ld->L) : 0;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) ld->mem = ld->mem - old + nsize;
    return p;
}

static void conf_count_hook(lua_State *L, lua_Debug *ar) {
    conf_loader_t *ld = loader_of(L);
    lua_getinfo(L, "l", ar);
    lua_pushfstring(L, "%s:%d: too many instructions (an endless loop?)", ld->path,
                    ar->currentline > 0 ? ar->currentline : 1);
    lua_error(L);
}

/* ---- where keys are written: a small scan of the source ---- */

static int is_name_start(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int is_name_char(char ch) { return is_name_start(ch) || (ch >= '0' && ch <= '9'); }

/* Steps over one newline, counting "\r\n" and "\n\r" once, as Lua's lexer does. */
static const char *skip_newline(const char *p, const char *end, int *line) {
    if (p + 1 < end && (p[1] == '\n' || p[1] == '\r') && p[1] != p[0]) p++;
    (*line)++;
    return p + 1;
}

/* At '[': the level of a long bracket "[==[" (2), or -1 when it is not one. */
static int long_bracket_level(const char *p, const char *end) {
    int level = 0;
    for (p++; p < end && *p == '='; p++) level++;
    return p < end && *p == '[' ? level : -1;
}

static const char *skip_long(const char *p, const char *end, int level, int *line) {
    p += level + 2;
    while (p < end) {
        if (*p == '\n' || *p == '\r') {
            p = skip_newline(p, end, line);
        } else if (*p == ']') {
            const char *q = p + 1;
            int n = 0;
            while (q < end && *q == '=') q++, n++;
            if (n == level && q < end && *q == ']') return q + 1;
            p++;
        } else {
            p++;
        }
    }
    return end;
}

static const char *skip_quoted(const char *p, const char *end, int *line) {
    char quote = *p++;
    while (p < end && *p != quote) {
        if (*p == '\\' && p + 1 < end) p++;
        if (*p == '\n' || *p == '\r')
            p = skip_newline(p, end, line);
        else
            p++;
    }
    return p < end ? p + 1 : end;
}

/* Is the name that ends at p followed by '=' (and not "==")? */
static int assigned(const char *p, const char *end) {
    while (p < end &&
           (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v'))
        p++;
    return p < end && *p == '=' && (p + 1 == end || p[1] != '=');
}

static int add_mark(conf_loader_t *ld, const char *name, size_t len, int line, int depth,
                    size_t *cap) {
    if (ld->nmarks == *cap) {
        size_t n = *cap ? *cap * 2 : 64;
        conf_mark_t *m = realloc(ld->marks, n * sizeof *m);
        if (!m) return -ENOMEM;
        ld->marks = m;
        *cap = n;
    }
    ld->marks[ld->nmarks++] = (conf_mark_t){name, len, (size_t)(name - ld->src), line, depth};
    return 0;
}

/* Records every "name =" outside comments and strings with its line and '{' depth. */
static int index_source(conf_loader_t *ld) {
    const char *p = ld->src, *end = ld->src + ld->len;
    int line = 1, depth = 0, level;
    char prev = 0; /* the last character of the previous token */
    size_t cap = 0;
    while (p < end) {
        char ch = *p;
        if (ch == '\n' || ch == '\r') {
            p = skip_newline(p, end, &line);
        } else if (ch == ' ' || ch == '\t' || ch == '\f' || ch == '\v') {
            p++;
        } else if (ch == '-' && p + 1 < end && p[1] == '-') {
            p += 2;
            if (p < end && *p == '[' && (level = long_bracket_level(p, end)) >= 0) {
                p = skip_long(p, end, level, &line);
            } else {
                while (p < end && *p != '\n' && *p != '\r') p++;
            }
        } else if (ch == '[' && (level = long_bracket_level(p, end)) >= 0) {
            p = skip_long(p, end, level, &line);
            prev = ']';
        } else if (ch == '"' || ch == '\'') {
            p = skip_quoted(p, end, &line);
            prev = ch;
        } else if (ch >= '0' && ch <= '9') {
            while (p < end && (is_name_char(*p) || *p == '.' ||
                               ((*p == '+' || *p == '-') &&
                                (p[-1] == 'e' || p[-1] == 'E' || p[-1] == 'p' || p[-1] == 'P'))))
                p++;
            prev = '0';
        } else if (is_name_start(ch)) {
            const char *name = p;
            while (p < end && is_name_char(*p)) p++;
            /* "a.b =" and "a:b" are not keys of a table constructor or of _ENV */
            if (prev != '.' && prev != ':' && assigned(p, end) &&
                add_mark(ld, name, (size_t)(p - name), line, depth, &cap) < 0)
                return -ENOMEM;
            prev = 'a';
        } else {
            if (ch == '{') depth++;
            if (ch == '}' && depth > 0) depth--;
            prev = ch;
            p++;
        }
    }
    return 0;
}

static int mark_is(const conf_mark_t *m, const conf_key_t *k) {
    return m->len == k->len && memcmp(m->name, k->name, k->len) == 0;
}

static size_t line_offset(const conf_loader_t *ld, int line) {
    const char *p = ld->src, *end = ld->src + ld->len;
    int n = 1;
    while (p < end && n < line) {
        if (*p == '\n' || *p == '\r')
            p = skip_newline(p, end, &n);
        else
            p++;
    }
    return (size_t)(p - ld->src);
}

/* Where the current key is written: its top-level name at or before the line Lua
 * reported (the end of the statement), then each nested name inside that
 * constructor; the deepest one found wins. */
static void locate(const conf_loader_t *ld, int *line, size_t *offset) {
    size_t at = SIZE_MAX;
    *line = ld->stmt_line > 0 ? ld->stmt_line : 1;
    *offset = line_offset(ld, *line);
    for (size_t i = 0; i < ld->nmarks && ld->marks[i].line <= *line; i++)
        if (ld->marks[i].depth == 0 && mark_is(&ld->marks[i], &ld->keys[0])) at = i;
    if (at == SIZE_MAX) return;
    for (int k = 1; k < ld->nkeys; k++) {
        size_t found = SIZE_MAX;
        int depth = ld->marks[at].depth;
        for (size_t i = at + 1; i < ld->nmarks && ld->marks[i].depth > depth; i++)
            if (ld->marks[i].depth == depth + 1 && mark_is(&ld->marks[i], &ld->keys[k])) found = i;
        if (found == SIZE_MAX) break;
        at = found;
    }
    *line = ld->marks[at].line;
    *offset = ld->marks[at].offset;
}

/* ---- errors: the first in the file wins ---- */

static void fail(conf_loader_t *ld, const char *fmt, ...) {
    int line;
    size_t offset;
    char text[768];
    va_list ap;
    locate(ld, &line, &offset);
    if (ld->nerrors++ &&
        (line > ld->err_line || (line == ld->err_line && offset >= ld->err_offset)))
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ld->err_line = line;
    ld->err_offset = offset;
    snprintf(ld->msg, sizeof ld->msg, "%s:%d: %s", ld->path, line, text);
}

static void push_key(conf_loader_t *ld, const char *name, size_t len) {
    if (ld->nkeys == CONF_MAX_DEPTH) abort(); /* the schema is never this deep */
    ld->keys[ld->nkeys++] = (conf_key_t){name, len};
}

/* The current key as people write it: "browser.reserve.critical". */
static const char *key_name(conf_loader_t *ld) {
    size_t n = 0;
    ld->name[0] = 0;
    for (int i = 0; i < ld->nkeys && n < sizeof ld->name; i++)
        n += (size_t)snprintf(ld->name + n, sizeof ld->name - n, "%s%.*s", i ? "." : "",
                              (int)ld->keys[i].len, ld->keys[i].name);
    return ld->name;
}

/* A value for a message: long ones are cut ("..."); control bytes are escaped later. */
static const char *clip(const char *s, size_t len, char *buf, size_t size) {
    if (len < size - 3) return s;
    snprintf(buf, size, "%.*s...", (int)(size - 4), s);
    return buf;
}

/* What a number reads as in a message. */
static const char *number_text(lua_State *L, int idx, char *buf, size_t size) {
    if (lua_isinteger(L, idx))
        snprintf(buf, size, "%lld", (long long)lua_tointeger(L, idx));
    else
        snprintf(buf, size, "%.14g", (double)lua_tonumber(L, idx));
    return buf;
}

/* A key that is not a name, as "[1]", "[true]" or "[table]". */
static const char *odd_key_text(lua_State *L, int idx, char *buf, size_t size) {
    char num[32]; /* "%lld" and "%.14g" need at most 24 */
    if (lua_type(L, idx) == LUA_TNUMBER)
        snprintf(buf, size, "[%s]", number_text(L, idx, num, sizeof num));
    else if (lua_type(L, idx) == LUA_TBOOLEAN)
        snprintf(buf, size, "[%s]", lua_toboolean(L, idx) ? "true" : "false");
    else
        snprintf(buf, size, "[%s]", luaL_typename(L, idx));
    return buf;
}

/* ---- reading values ---- */

static void read_table(conf_loader_t *ld, int idx, const conf_field_t *fields, char *base);

/* The string at idx, or NULL after reporting why it is not one. */
static const char *read_text(conf_loader_t *ld, int idx, int flags, size_t *len) {
    lua_State *L = ld->L;
    if (lua_type(L, idx) != LUA_TSTRING) {
        fail(ld, "%s: expected a string, got %s", key_name(ld), luaL_typename(L, idx));
        return NULL;
    }
    const char *s = lua_tolstring(L, idx, len);
    if (strlen(s) != *len) {
        fail(ld, "%s: must not contain a NUL byte", key_name(ld));
        return NULL;
    }
    if ((flags & F_NONEMPTY) && *len == 0) {
        fail(ld, "%s: must not be empty", key_name(ld));
        return NULL;
    }
    return s;
}

static int valid_listen(const char *s) {
    const char *colon = strrchr(s, ':'), *p;
    long port = 0;
    if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5) return 0;
    for (p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        port = port * 10 + (*p - '0');
    }
    return port <= 65535;
}

/* A URL scheme name: a lower-case letter, then letters, digits, + - or . */
static int valid_scheme(const char *s) {
    if (!(s[0] >= 'a' && s[0] <= 'z') || strlen(s) > 32) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' ||
              *s == '.'))
            return 0;
    return 1;
}

static int valid_url(const char *s) {
    static const char *const schemes[] = {"ws://", "wss://", "http://", "https://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) == 0 && s[n]) return 1;
    }
    return 0;
}

/* Sets c->browser.user_* from the user called name. Returns 0, or -1 when
 * this system has no such user (c is left as it was). */
static int conf_user_lookup(conf_t *c, const char *name) {
    struct passwd *pw = name[0] ? getpwnam(name) : NULL;
    if (!pw) return -1;
    c->browser.user_known = 1;
    c->browser.user_uid = pw->pw_uid;
    c->browser.user_gid = pw->pw_gid;
    return 0;
}

/* A proxy URL curl understands: one of the schemes, a host, no spaces. */
static int valid_proxy(const char *s) {
    static const char *const schemes[] = {"http://",    "https://",  "socks4://",
                                          "socks4a://", "socks5://", "socks5h://"};
    if (strpbrk(s, " \t\r\n")) return 0;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) == 0 && s[n] && s[n] != '/' && s[n] != ':') return 1;
    }
    return 0;
}

static void read_string(conf_loader_t *ld, int idx, const conf_field_t *f, char *out) {
    char shown[100];
    size_t len;
    const char *s = read_text(ld, idx, f->flags, &len);
    if (!s) return;
    if (len >= f->size) {
        fail(ld, "%s: too long (at most %zu bytes)", key_name(ld), f->size - 1);
    } else if ((f->flags & F_LISTEN) && !valid_listen(s)) {
        fail(ld, "%s: expected HOST:PORT, got '%s'", key_name(ld),
             clip(s, len, shown, sizeof shown));
    } else if ((f->flags & F_USER) && conf_user_lookup(ld->conf, s) < 0) {
        fail(ld, "%s: no user '%s' on this system", key_name(ld),
             clip(s, len, shown, sizeof shown));
    } else if ((f->flags & F_PROXY) && len && !valid_proxy(s)) {
        fail(ld,
             "%s: expected \"\" or a proxy URL (http://, https://, socks4://, socks5:// and a "
             "host), got '%s'",
             key_name(ld), clip(s, len, shown, sizeof shown));
    } else {
        memcpy(out, s, len + 1);
    }
}

/* Writes path resolved against the file's directory into out[size]; absolute paths and
 * paths in a file loaded from the cwd stay as written. Returns 0 or -ENAMETOOLONG. */
static int join_path(const conf_loader_t *ld, const char *path, char *out, size_t size) {
    size_t n = strlen(ld->dir);
    const char *dir = path[0] == '/' ? "" : ld->dir;
    const char *sep = !dir[0] || ld->dir[n - 1] == '/' ? "" : "/";
    if ((size_t)snprintf(NULL, 0, "%s%s%s", dir, sep, path) >= size) return -ENAMETOOLONG;
    snprintf(out, size, "%s%s%s", dir, sep, path);
    return 0;
}

static void read_path(conf_loader_t *ld, int idx, const conf_field_t *f, char *out) {
    size_t len;
    const char *s = read_text(ld, idx, f->flags, &len);
    if (!s) return;
    if (((f->flags & F_MEMORY) && strcmp(s, ":memory:") == 0) || ((f->flags & F_EMPTY) && !len))
        memcpy(out, s, len + 1);
    else if (join_path(ld, s, out, f->size) < 0)
        fail(ld, "%s: path too long (at most %zu bytes once resolved)", key_name(ld), f->size - 1);
}

static void read_enum(conf_loader_t *ld, int idx, const conf_field_t *f, char *out) {
    char list[256] = "";
    size_t len;
    const char *s = read_text(ld, idx, 0, &len);
    if (!s) return;
    for (int i = 0; f->choices[i]; i++) {
        if (strcmp(s, f->choices[i]) != 0) continue;
        if (f->kind == K_ENUM)
            memcpy(out, &i, sizeof i);
        else
            snprintf(out, f->size, "%s", f->choices[i]);
        return;
    }
    for (int i = 0; f->choices[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", f->choices[i]);
    }
    fail(ld, "%s: expected one of %s", key_name(ld), list);
}

static void read_int(conf_loader_t *ld, int idx, const conf_field_t *f, int *out) {
    lua_State *L = ld->L;
    char num[64];
    int exact = 0;
    lua_Integer v = 0;
    if (lua_type(L, idx) == LUA_TNUMBER) v = lua_tointegerx(L, idx, &exact);
    if (!exact) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            fail(ld, "%s: expected an integer, got %s", key_name(ld),
                 number_text(L, idx, num, sizeof num));
        else
            fail(ld, "%s: expected an integer, got %s", key_name(ld), luaL_typename(L, idx));
    } else if (v < f->min || v > f->max) {
        fail(ld, "%s: must be between %lld and %lld, got %lld", key_name(ld), f->min, f->max,
             (long long)v);
    } else {
        *out = (int)v;
    }
}

static void read_bool(conf_loader_t *ld, int idx, int *out) {
    if (lua_type(ld->L, idx) != LUA_TBOOLEAN)
        fail(ld, "%s: expected true or false, got %s", key_name(ld), luaL_typename(ld->L, idx));
    else
        *out = lua_toboolean(ld->L, idx);
}

static void read_duration(conf_loader_t *ld, int idx, const conf_field_t *f, double *out) {
    lua_State *L = ld->L;
    char shown[100];
    double d = 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        d = (double)lua_tonumber(L, idx);
        if (!isfinite(d)) {
            fail(ld, "%s: bad duration %s", key_name(ld), number_text(L, idx, shown, sizeof shown));
            return;
        }
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len || units_duration(s, &d) < 0) {
            fail(ld, "%s: bad duration '%s'", key_name(ld), clip(s, len, shown, sizeof shown));
            return;
        }
    } else {
        fail(ld, "%s: expected a duration, got %s", key_name(ld), luaL_typename(L, idx));
        return;
    }
    char lo[32], hi[32], got[32];
    units_format_duration(d, got, sizeof got);
    if (!(d >= f->dmin && d <= f->dmax) && !(d == 0 && (f->flags & F_ZERO_OK))) {
        units_format_duration(f->dmin, lo, sizeof lo);
        units_format_duration(f->dmax, hi, sizeof hi);
        fail(ld, "%s: must be between %s and %s%s, got %s", key_name(ld), lo, hi,
             f->flags & F_ZERO_OK ? ", or 0 for off" : "", got);
    } else if ((f->flags & F_WHOLE) && d != floor(d)) {
        fail(ld, "%s: must be a whole number of seconds, got %s", key_name(ld), got);
    } else {
        *out = d;
    }
}

/* A size for a message: "64GB", "1MB", "100KB", or bytes when it is none of those. */
static const char *size_text(unsigned long long bytes, char *buf, size_t size) {
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (u < 4 && bytes >= 1024 && bytes % 1024 == 0) bytes /= 1024, u++;
    snprintf(buf, size, "%llu%s", bytes, units[u]);
    return buf;
}

static void read_size(conf_loader_t *ld, int idx, const conf_field_t *f, size_t *out) {
    lua_State *L = ld->L;
    char shown[100];
    size_t bytes = 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double d = (double)lua_tonumber(L, idx);
        if (!(d >= 0 && d < 9007199254740992.0) || d != floor(d)) {
            fail(ld, "%s: bad size %s", key_name(ld), number_text(L, idx, shown, sizeof shown));
            return;
        }
        bytes = (size_t)d;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len || units_size(s, &bytes) < 0) {
            fail(ld, "%s: bad size '%s'", key_name(ld), clip(s, len, shown, sizeof shown));
            return;
        }
    } else {
        fail(ld, "%s: expected a size, got %s", key_name(ld), luaL_typename(L, idx));
        return;
    }
    if ((bytes < (size_t)f->min || bytes > (size_t)f->max) &&
        !(bytes == 0 && (f->flags & F_ZERO_OK))) {
        char lo[32], hi[32], got[32];
        fail(ld, "%s: must be between %s and %s%s, got %s", key_name(ld),
             size_text((unsigned long long)f->min, lo, sizeof lo),
             size_text((unsigned long long)f->max, hi, sizeof hi),
             f->flags & F_ZERO_OK ? ", or 0 for no limit" : "",
             size_text((unsigned long long)bytes, got, sizeof got));
    } else {
        *out = bytes;
    }
}

/* A list of strings: all or nothing, so a failed read leaves the old list in place. */
static void read_list(conf_loader_t *ld, int idx, const conf_field_t *f, char *base) {
    lua_State *L = ld->L;
    char *items[CONF_MAX_LIST] = {0}, shown[100];
    size_t n, nkeys = 0, i;
    if (!lua_istable(L, idx)) {
        fail(ld, "%s: expected a list of strings, got %s", key_name(ld), luaL_typename(L, idx));
        return;
    }
    idx = lua_absindex(L, idx);
    n = (size_t)lua_rawlen(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        nkeys++;
        lua_pop(L, 1);
    }
    if (nkeys != n) {
        fail(ld, "%s: expected a list of strings (keys 1, 2, 3...)", key_name(ld));
        return;
    }
    if (n > CONF_MAX_LIST) {
        fail(ld, "%s: at most %d entries, got %zu", key_name(ld), CONF_MAX_LIST, n);
        return;
    }
    for (i = 0; i < n; i++) {
        size_t len = 0;
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!s)
            fail(ld, "%s[%zu]: expected a string, got %s", key_name(ld), i + 1,
                 luaL_typename(L, -1));
        else if (strlen(s) != len || len == 0)
            fail(ld, "%s[%zu]: must be a non-empty string without NUL bytes", key_name(ld), i + 1);
        else if ((f->flags & F_SCHEME) && !valid_scheme(s))
            fail(ld, "%s[%zu]: expected a URL scheme in lower case (\"https\", \"file\"), got '%s'",
                 key_name(ld), i + 1, clip(s, len, shown, sizeof shown));
        else if ((f->flags & F_URL) && !valid_url(s))
            fail(ld, "%s[%zu]: expected a ws://, wss://, http:// or https:// URL, got '%s'",
                 key_name(ld), i + 1, clip(s, len, shown, sizeof shown));
        else if (!(items[i] = strdup(s))) {
            ld->nomem = 1;
            fail(ld, "%s: out of memory", key_name(ld));
        }
        lua_pop(L, 1);
        if (!items[i]) break;
    }
    if (i < n) {
        for (size_t j = 0; j < i; j++) free(items[j]);
        return;
    }
    /* The strings replaced here still belong to the caller's conf_t; conf_load frees
     * whichever side loses once it knows whether the load succeeded. */
    memcpy(base + f->offset, items, sizeof items);
    memcpy(base + f->size, &(int){(int)n}, sizeof(int));
}

static int breaker_cmp(const void *a, const void *b) {
    return strcmp(((const conf_breaker_t *)a)->name, ((const conf_breaker_t *)b)->name);
}

/* One NAME = { ... } entry of a named table, its value at the top of the stack. */
typedef void (*named_entry_fn)(conf_loader_t *ld, const char *name, size_t len,
                               const conf_field_t *f);

/* A table of NAME = { ... } entries (breakers, secrets): each name must pass
 * name_ok (rule says what it must be), each value is a table, at most max of
 * them (*count, reset here, is the caller's count; entry adds to it). */
static void read_named(conf_loader_t *ld, int idx, const conf_field_t *f, const char *what,
                       int *count, int max, int (*name_ok)(const char *, size_t), const char *rule,
                       const char *shape, named_entry_fn entry) {
    lua_State *L = ld->L;
    char odd[64];
    if (!lua_istable(L, idx)) {
        fail(ld, "%s: expected a table, got %s", key_name(ld), luaL_typename(L, idx));
        return;
    }
    idx = lua_absindex(L, idx);
    *count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t len = 0;
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
        if (name) push_key(ld, name, len);
        if (!name)
            fail(ld, "unknown key '%s%s'", key_name(ld), odd_key_text(L, -2, odd, sizeof odd));
        else if (strlen(name) != len || !name_ok(name, len))
            fail(ld, "%s: %s", key_name(ld), rule);
        else if (!lua_istable(L, -1))
            fail(ld, "%s: expected a table%s, got %s", key_name(ld), shape, luaL_typename(L, -1));
        else if (*count == max)
            fail(ld, "%s: more than %d %s", key_name(ld), max, what);
        else
            entry(ld, name, len, f);
        if (name) ld->nkeys--;
        lua_pop(L, 1);
    }
}

static int breaker_name_ok(const char *name, size_t len) {
    (void)name;
    return len > 0 && len < sizeof((conf_breaker_t *)0)->name;
}

static void read_breaker(conf_loader_t *ld, const char *name, size_t len, const conf_field_t *f) {
    conf_breaker_t *b = &ld->conf->breakers[ld->conf->nbreakers++];
    memset(b, 0, sizeof *b);
    memcpy(b->name, name, len + 1);
    b->failures = 5;
    b->cooldown = 300;
    b->min_calls = 10;
    b->failure_rate = 50;
    b->probes = 1;
    int errors = ld->nerrors;
    read_table(ld, -1, f->fields, (char *)b);
    breaker_opts_t o;
    char why[256];
    conf_breaker_opts(b, &o);
    /* once its keys are valid: how they go together */
    if (ld->nerrors == errors && b->window_calls > 0 && b->window_time > 0)
        fail(ld, "%s: window_calls and window_time cannot both be set", key_name(ld));
    else if (ld->nerrors == errors && breaker_opts_check(&o, why, sizeof why) < 0)
        fail(ld, "%s: %s", key_name(ld), why);
}

/* breakers = { NAME = { failures = N, cooldown = DURATION }, ... }: replaces every breaker. */
static void read_breakers(conf_loader_t *ld, int idx, const conf_field_t *f) {
    conf_t *c = ld->conf;
    char rule[64];
    snprintf(rule, sizeof rule, "a breaker name must be 1 to %zu bytes without NUL",
             sizeof c->breakers[0].name - 1);
    read_named(ld, idx, f, "breakers", &c->nbreakers, CONF_MAX_BREAKERS, breaker_name_ok, rule, "",
               read_breaker);
    qsort(c->breakers, (size_t)c->nbreakers, sizeof c->breakers[0], breaker_cmp);
}

static int secret_cmp(const void *a, const void *b) {
    return strcmp(((const conf_secret_t *)a)->name, ((const conf_secret_t *)b)->name);
}

static int conf_secret_name_ok(const char *name, size_t len) {
    (void)len;
    return secret_name_ok(name);
}

static void read_secret(conf_loader_t *ld, const char *name, size_t len, const conf_field_t *f) {
    conf_secret_t *sc = &ld->conf->secrets[ld->conf->nsecrets++];
    memset(sc, 0, sizeof *sc);
    memcpy(sc->name, name, len + 1);
    int errors = ld->nerrors;
    size_t off;
    locate(ld, &sc->line, &off);
    read_table(ld, -1, f->fields, (char *)sc);
    if (ld->nerrors == errors && !!sc->env[0] == !!sc->file[0])
        fail(ld, "%s: give exactly one of env = \"VAR\" and file = \"path\"", key_name(ld));
}

/* secrets = { NAME = { env = "VAR" } or { file = "path" }, ... }. */
static void read_secrets(conf_loader_t *ld, int idx, const conf_field_t *f) {
    conf_t *c = ld->conf;
    char rule[128];
    snprintf(rule, sizeof rule,
             "a secret's name is 1 to %d letters, digits, '_', '.' or '-', starting with a "
             "letter or '_'",
             SECRET_NAME_MAX);
    read_named(ld, idx, f, "secrets", &c->nsecrets, CONF_MAX_SECRETS, conf_secret_name_ok, rule,
               " ({ env = \"VAR\" } or { file = \"path\" })", read_secret);
    qsort(c->secrets, (size_t)c->nsecrets, sizeof c->secrets[0], secret_cmp);
}

/* The value at idx for field f, which lands at base + f->offset. */
static void read_value(conf_loader_t *ld, int idx, const conf_field_t *f, char *base) {
    lua_State *L = ld->L;
    char *at = base + f->offset;
    switch (f->kind) {
    case K_TABLE:
        if (!lua_istable(L, idx))
            fail(ld, "%s: expected a table, got %s", key_name(ld), luaL_typename(L, idx));
        else
            read_table(ld, idx, f->fields, at);
        break;
    case K_STRING:
        read_string(ld, idx, f, at);
        break;
    case K_PATH:
        read_path(ld, idx, f, at);
        break;
    case K_ENUM:
    case K_ENUM_NAME:
        read_enum(ld, idx, f, at);
        break;
    case K_INT:
        read_int(ld, idx, f, (int *)(void *)at);
        break;
    case K_DURATION:
        read_duration(ld, idx, f, (double *)(void *)at);
        break;
    case K_SIZE:
        read_size(ld, idx, f, (size_t *)(void *)at);
        break;
    case K_LIST:
        read_list(ld, idx, f, base);
        break;
    case K_BREAKERS:
        read_breakers(ld, idx, f);
        break;
    case K_SECRETS:
        read_secrets(ld, idx, f);
        break;
    case K_BOOL:
        read_bool(ld, idx, (int *)(void *)at);
        break;
    }
}

static const conf_field_t *find_field(const conf_field_t *fields, const char *name, size_t len) {
    for (; fields->name; fields++)
        if (strlen(fields->name) == len && memcmp(fields->name, name, len) == 0) return fields;
    return NULL;
}

/* Reads every key of the table at idx; unknown keys are errors. */
static void read_table(conf_loader_t *ld, int idx, const conf_field_t *fields, char *base) {
    lua_State *L = ld->L;
    char odd[64];
    luaL_checkstack(L, 6, NULL);
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            fail(ld, "unknown key '%s%s'", key_name(ld), odd_key_text(L, -2, odd, sizeof odd));
        } else {
            size_t len;
            const char *name = lua_tolstring(L, -2, &len);
            const conf_field_t *f = find_field(fields, name, len);
            push_key(ld, name, len);
            if (f)
                read_value(ld, -1, f, base);
            else
                fail(ld, "unknown key '%s'", key_name(ld));
            ld->nkeys--;
        }
        lua_pop(L, 1);
    }
}

/* Checks between keys, once each key is valid on its own. */
static void check_browser(conf_loader_t *ld, int lines) {
    const conf_t *c = ld->conf;
    int reserved = c->browser.reserve_critical + c->browser.reserve_high;
    if (c->browser.warm > c->browser.max_pages) {
        lua_getfield(ld->L, lines, "browser");
        ld->stmt_line = (int)lua_tointeger(ld->L, -1);
        lua_pop(ld->L, 1);
        push_key(ld, "browser", 7);
        push_key(ld, "warm", 4);
        fail(ld, "browser.warm (%d) is more than max_pages (%d)", c->browser.warm,
             c->browser.max_pages);
        ld->nkeys = 0;
        return;
    }
    if (reserved < c->browser.max_pages) return;
    lua_getfield(ld->L, lines, "browser");
    ld->stmt_line = (int)lua_tointeger(ld->L, -1);
    lua_pop(ld->L, 1);
    push_key(ld, "browser", 7);
    push_key(ld, "reserve", 7);
    fail(ld,
         "browser.reserve: critical + high (%d) leaves none of max_pages (%d) for "
         "medium and low work",
         reserved, c->browser.max_pages);
    ld->nkeys = 0;
}

/* Whether the file's defaults.retry table (the values are at index 1) sets max. */
static int retry_max_given(lua_State *L) {
    int given = 0;
    lua_pushliteral(L, "defaults");
    if (lua_rawget(L, 1) == LUA_TTABLE) {
        lua_pushliteral(L, "retry");
        if (lua_rawget(L, -2) == LUA_TTABLE) {
            lua_pushliteral(L, "max");
            given = lua_rawget(L, -2) != LUA_TNIL;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return given;
}

/* A retry's longest wait is at least its first. A max the file gives below its
 * base is refused, not raised; a base alone past the default max (30s) takes
 * max with it, since the file said nothing of max. */
static void check_retry(conf_loader_t *ld, int lines) {
    conf_retry_t *r = &ld->conf->default_retry;
    char base[32], max[32];
    if (r->max >= r->base) return;
    if (!retry_max_given(ld->L)) {
        r->max = r->base;
        return;
    }
    lua_getfield(ld->L, lines, "defaults");
    ld->stmt_line = (int)lua_tointeger(ld->L, -1);
    lua_pop(ld->L, 1);
    push_key(ld, "defaults", 8);
    push_key(ld, "retry", 5);
    push_key(ld, "max", 3);
    units_format_duration(r->max, max, sizeof max);
    units_format_duration(r->base, base, sizeof base);
    fail(ld, "defaults.retry.max (%s) is less than base (%s)", max, base);
    ld->nkeys = 0;
}

/* http_client: no host may have more connections than all hosts together. */
static void check_http_client(conf_loader_t *ld, int lines) {
    const conf_t *c = ld->conf;
    if (c->http_client.max_per_host <= c->http_client.max_connections) return;
    lua_getfield(ld->L, lines, "http_client");
    ld->stmt_line = (int)lua_tointeger(ld->L, -1);
    lua_pop(ld->L, 1);
    push_key(ld, "http_client", 11);
    push_key(ld, "max_per_host", 12);
    fail(ld, "http_client.max_per_host (%d) is more than max_connections (%d)",
         c->http_client.max_per_host, c->http_client.max_connections);
    ld->nkeys = 0;
}

/* ---- evaluation ---- */

/* _ENV's __newindex: keeps the value and the line of the assignment. */
static int conf_env_newindex(lua_State *L) {
    int line = current_line(L);
    if (lua_type(L, 2) != LUA_TSTRING) {
        char odd[64];
        conf_loader_t *ld = loader_of(L);
        lua_pushfstring(L, "%s:%d: unknown key '%s'", ld->path, line > 0 ? line : 1,
                        odd_key_text(L, 2, odd, sizeof odd));
        return lua_error(L);
    }
    lua_settop(L, 3);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, lua_upvalueindex(1));
    lua_pushvalue(L, 2);
    lua_pushinteger(L, line);
    lua_rawset(L, lua_upvalueindex(2));
    return 0;
}

/* Runs in lua_pcall: evaluates the file and reads what it assigned into ld->conf. */
static int conf_eval(lua_State *L) {
    conf_loader_t *ld = loader_of(L);
    if (ld->len > 0 && ld->src[0] == LUA_SIGNATURE[0]) {
        lua_pushfstring(L, "%s:1: precompiled chunks are not accepted (Lua source text only)",
                        ld->path);
        return lua_error(L);
    }
    lua_newtable(L); /* 1: values */
    lua_newtable(L); /* 2: lines */
    lua_newtable(L); /* 3: _ENV, empty: reads and writes go through its metatable */
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, conf_env_newindex, 2);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, 3);

    if (luaL_loadbufferx(L, ld->src, ld->len, ld->chunkname, "t") != LUA_OK) return lua_error(L);
    lua_pushvalue(L, 3);
    lua_setupvalue(L, -2, 1);
    lua_sethook(L, conf_count_hook, LUA_MASKCOUNT, CONF_MAX_INSTRUCTIONS);
    lua_call(L, 0, 0);
    lua_sethook(L, NULL, 0, 0);
    ld->mem_limit = SIZE_MAX;

    lua_pushnil(L);
    while (lua_next(L, 1)) {
        size_t len;
        const char *name = lua_tolstring(L, -2, &len); /* only names get in */
        const conf_field_t *f = find_field(conf_top, name, len);
        lua_pushvalue(L, -2);
        lua_rawget(L, 2);
        ld->stmt_line = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        push_key(ld, name, len);
        if (f)
            read_value(ld, -1, f, (char *)ld->conf);
        else
            fail(ld, "unknown key '%s'", key_name(ld));
        ld->nkeys = 0;
        lua_pop(L, 1);
    }
    if (!ld->nerrors) check_browser(ld, 2);
    if (!ld->nerrors) check_retry(ld, 2);
    if (!ld->nerrors) check_http_client(ld, 2);
    return 0;
}

/* Lua names the chunk by its short_src, which cuts long paths to "...tail": the
 * message is rewritten to start with the whole path. */
static void message_from_lua(conf_loader_t *ld, lua_State *L, const char *msg) {
    lua_Debug ar;
    size_t n = strlen(ld->path);
    if (strncmp(msg, ld->path, n) == 0 && msg[n] == ':') {
        snprintf(ld->msg, sizeof ld->msg, "%s", msg);
        return;
    }
    if (luaL_loadbufferx(L, "", 0, ld->chunkname, "t") == LUA_OK && lua_getinfo(L, ">S", &ar)) {
        n = strlen(ar.short_src);
        if (strncmp(msg, ar.short_src, n) == 0 && msg[n] == ':') {
            snprintf(ld->msg, sizeof ld->msg, "%s%s", ld->path, msg + n);
            return;
        }
    }
    snprintf(ld->msg, sizeof ld->msg, "%s:1: %s", ld->path, msg);
}

/* ---- files ---- */

static int read_source(conf_loader_t *ld) {
    struct stat st;
    FILE *f = fopen(ld->path, "rb");
    int rc = 0;
    if (!f) {
        rc = -errno;
        snprintf(ld->msg, sizeof ld->msg, "%s: cannot open: %s", ld->path, strerror(errno));
        return rc;
    }
    if (fstat(fileno(f), &st) < 0) {
        rc = -errno;
    } else if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
    } else if (st.st_size > (off_t)CONF_MAX_SOURCE) {
        rc = -EFBIG;
    } else if (!(ld->src = malloc(CONF_MAX_SOURCE + 1))) {
        rc = -ENOMEM;
    } else {
        ld->len = fread(ld->src, 1, CONF_MAX_SOURCE + 1, f);
        if (ferror(f))
            rc = -EIO;
        else if (ld->len > CONF_MAX_SOURCE)
            rc = -EFBIG;
    }
    fclose(f);
    if (rc == -EFBIG)
        snprintf(ld->msg, sizeof ld->msg, "%s: too large (more than %u KB)", ld->path,
                 CONF_MAX_SOURCE / 1024);
    else if (rc < 0)
        snprintf(ld->msg, sizeof ld->msg, "%s: cannot read: %s", ld->path, strerror(-rc));
    return rc;
}

/* The directory relative paths are resolved against: "" for a file in the cwd. */
static void set_dir(conf_loader_t *ld) {
    const char *slash = strrchr(ld->path, '/');
    if (!slash)
        ld->dir[0] = 0;
    else if (slash == ld->path)
        snprintf(ld->dir, sizeof ld->dir, "/");
    else
        snprintf(ld->dir, sizeof ld->dir, "%.*s", (int)(slash - ld->path), ld->path);
}

/* Keys the file leaves out keep their default, resolved against its directory too. */
static void resolve_defaults(conf_loader_t *ld) {
    static const struct {
        size_t offset, size;
        const char *value;
    } paths[] = {{C_(scripts), CSZ(scripts), "scripts"},
                 {C_(database), CSZ(database), "baton.db"},
                 {C_(console_socket), CSZ(console_socket), "baton.sock"}};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *at = (char *)ld->conf + paths[i].offset;
        if (strcmp(at, paths[i].value) == 0) join_path(ld, paths[i].value, at, paths[i].size);
    }
}

/* Frees the strings of list that keep does not share. */
static void free_unshared(char **list, int n, char *const *keep, int nkeep) {
    for (int i = 0; i < n; i++) {
        int shared = 0;
        for (int j = 0; j < nkeep && !shared; j++) shared = list[i] == keep[j];
        if (!shared) free(list[i]);
    }
}

/* Escapes control bytes so the message stays one line. */
static void copy_message(const char *msg, char *err, size_t errlen) {
    size_t n = 0;
    if (!errlen) return;
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 1 < errlen; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            err[n++] = (char)*p;
        } else {
            char esc[8];
            int k = *p == '\n'   ? snprintf(esc, sizeof esc, "\\n")
                    : *p == '\t' ? snprintf(esc, sizeof esc, "\\t")
                                 : snprintf(esc, sizeof esc, "\\x%02x", *p);
            if (n + (size_t)k + 1 > errlen) break;
            memcpy(err + n, esc, (size_t)k);
            n += (size_t)k;
        }
    }
    err[n] = 0;
}

void conf_defaults(conf_t *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->scripts, sizeof c->scripts, "scripts");
    c->watch = 1;
    snprintf(c->database, sizeof c->database, "baton.db");
    c->log_level = CONF_LOG_INFO;
    snprintf(c->http_listen, sizeof c->http_listen, "127.0.0.1:8080");
    snprintf(c->console_socket, sizeof c->console_socket, "baton.sock");
    c->max_concurrent_runs = 8;
    c->shutdown_timeout = 30;
    c->retention = 30 * 86400;
    c->sandbox_memory = (size_t)64 << 20;
    c->cpu_slice = 0.2;
    c->browser.browsers = 1;
    c->browser.max_pages = 4;
    snprintf(c->browser.raw_cdp, sizeof c->browser.raw_cdp, "page");
    c->browser.reserve_critical = 1;
    c->browser.reserve_high = 0;
    c->browser.burst = 1;
    c->browser.idle_timeout = 60;
    c->browser.max_uses = 50;
    c->browser.acquire_timeout = 30;
    c->browser.heartbeat = 10;
    c->browser.warm = 1;
    snprintf(c->browser.user, sizeof c->browser.user, "nobody");
    conf_user_lookup(c, c->browser.user); /* none here: the pool says so when it matters */
    c->default_timeout = 120;
    c->default_retry.attempts = 3;
    snprintf(c->default_retry.backoff, sizeof c->default_retry.backoff, "exponential");
    c->default_retry.base = 1;
    c->default_retry.max = 30;
    snprintf(c->default_retry.jitter, sizeof c->default_retry.jitter, "full");
    c->retry_budget.percent = 20;
    c->retry_budget.floor = 3;
    c->retry_budget.window = 10;
    c->http_client.max_connections = 64;
    c->http_client.max_per_host = 8;
    c->http_client.timeout = 30;
    c->http_client.max_bytes = (size_t)10 << 20;
}

int conf_load(conf_t *c, const char *path, char *err, size_t errlen) {
    conf_loader_t *ld = calloc(1, sizeof *ld);
    conf_t *next = malloc(sizeof *next);
    int rc = 0;
    if (errlen) err[0] = 0;
    if (!ld || !next) {
        free(ld);
        free(next);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    *next = *c;
    ld->path = path;
    ld->conf = next;
    ld->mem_limit = CONF_MEMORY_LIMIT;
    if (strlen(path) >= sizeof c->path) {
        snprintf(ld->msg, sizeof ld->msg, "%.200s...: path too long (at most %zu bytes)", path,
                 sizeof c->path - 1);
        rc = -ENAMETOOLONG;
        goto out;
    }
    snprintf(next->path, sizeof next->path, "%s", path);
    snprintf(ld->chunkname, sizeof ld->chunkname, "@%s", path);
    set_dir(ld);
    resolve_defaults(ld);
    if ((rc = read_source(ld)) < 0) goto out;
    if (index_source(ld) < 0 || !(ld->L = lua_newstate(conf_alloc, ld))) {
        snprintf(ld->msg, sizeof ld->msg, "%s: out of memory", path);
        rc = -ENOMEM;
        goto out;
    }
    lua_pushcfunction(ld->L, conf_eval);
    int status = lua_pcall(ld->L, 0, 0, 0);
    ld->mem_limit = SIZE_MAX; /* room to build the message */
    if (status == LUA_ERRMEM) {
        if (ld->mem_refused)
            snprintf(ld->msg, sizeof ld->msg, "%s:%d: needs too much memory (more than %u MB)",
                     path, ld->mem_line > 0 ? ld->mem_line : 1, CONF_MEMORY_LIMIT >> 20);
        else
            snprintf(ld->msg, sizeof ld->msg, "%s: out of memory", path);
        rc = ld->mem_refused ? -EINVAL : -ENOMEM;
    } else if (status != LUA_OK) {
        const char *msg = lua_tostring(ld->L, -1);
        message_from_lua(ld, ld->L, msg ? msg : "error object is not a string");
        rc = -EINVAL;
    } else if (ld->nerrors) {
        rc = ld->nomem ? -ENOMEM : -EINVAL;
    }
out:
    if (ld->L) lua_close(ld->L);
    if (rc == 0) {
        free_unshared(c->browser.args, c->browser.nargs, next->browser.args, next->browser.nargs);
        free_unshared(c->browser.endpoints, c->browser.nendpoints, next->browser.endpoints,
                      next->browser.nendpoints);
        free_unshared(c->browser.schemes, c->browser.nschemes, next->browser.schemes,
                      next->browser.nschemes);
        *c = *next;
    } else {
        free_unshared(next->browser.args, next->browser.nargs, c->browser.args, c->browser.nargs);
        free_unshared(next->browser.endpoints, next->browser.nendpoints, c->browser.endpoints,
                      c->browser.nendpoints);
        free_unshared(next->browser.schemes, next->browser.nschemes, c->browser.schemes,
                      c->browser.nschemes);
        copy_message(ld->msg, err, errlen);
    }
    free(ld->src);
    free(ld->marks);
    free(ld);
    free(next);
    return rc;
}

void conf_free(conf_t *c) {
    for (int i = 0; i < c->browser.nargs; i++) free(c->browser.args[i]);
    for (int i = 0; i < c->browser.nendpoints; i++) free(c->browser.endpoints[i]);
    for (int i = 0; i < c->browser.nschemes; i++) free(c->browser.schemes[i]);
    memset(c->browser.args, 0, sizeof c->browser.args);
    memset(c->browser.endpoints, 0, sizeof c->browser.endpoints);
    memset(c->browser.schemes, 0, sizeof c->browser.schemes);
    c->browser.nschemes = 0;
    c->browser.nargs = 0;
    c->browser.nendpoints = 0;
}

void conf_breaker_opts(const conf_breaker_t *cb, breaker_opts_t *o) {
    breaker_opts_default(o);
    o->failures = cb->failures;
    o->cooldown = cb->cooldown;
    o->probes = cb->probes;
    o->slow_call = cb->slow_call;
    if (cb->window_calls > 0) {
        o->window_kind = BREAKER_WINDOW_COUNT;
        o->window_size = cb->window_calls;
    } else if (cb->window_time > 0) {
        o->window_kind = BREAKER_WINDOW_TIME;
        o->window_size = (int)cb->window_time;
    }
    if (o->window_kind != BREAKER_WINDOW_NONE) {
        o->min_calls = cb->min_calls;
        o->failure_rate = cb->failure_rate / 100.0;
    }
}

/* ---- secrets: names for every command, values for baton run ---- */

void conf_secrets_declare(const conf_t *c) {
    secret_reset();
    for (int i = 0; i < c->nsecrets; i++) secret_declare(c->secrets[i].name);
}

enum { CONF_SECRET_MAX_BYTES = 64 * 1024 };

/* The file of sc into buf (*len bytes): 0, or -EINVAL with why. */
static int read_secret_file(const conf_secret_t *sc, char *buf, size_t *len, char *why,
                            size_t whylen) {
    int fd = open(sc->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", sc->file, strerror(errno));
        return -EINVAL;
    }
    int rc = -EINVAL;
    if (fstat(fd, &st) < 0)
        snprintf(why, whylen, "%s: %s", sc->file, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, whylen, "%s is not a regular file", sc->file);
    else if (st.st_mode & (S_IROTH | S_IWOTH))
        snprintf(why, whylen, "%s can be read or written by others (mode %03o): chmod o-rw it",
                 sc->file, (unsigned)(st.st_mode & 0777));
    else if (st.st_size > CONF_SECRET_MAX_BYTES)
        snprintf(why, whylen, "%s is larger than %d KB", sc->file, CONF_SECRET_MAX_BYTES / 1024);
    else {
        size_t n = 0;
        ssize_t r = 0;
        while (n < CONF_SECRET_MAX_BYTES &&
               (r = read(fd, buf + n, CONF_SECRET_MAX_BYTES - n)) != 0) {
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) break;
            n += (size_t)r;
        }
        if (r < 0) {
            snprintf(why, whylen, "%s: %s", sc->file, strerror(errno));
        } else {
            if (n && buf[n - 1] == '\n') n--; /* as `echo KEY > file` writes it */
            if (n && buf[n - 1] == '\r') n--;
            *len = n;
            rc = 0;
        }
    }
    close(fd);
    return rc;
}

int conf_secrets_read(const conf_t *c, void (*warn)(void *ud, const char *line), void *ud,
                      char *err, size_t errlen) {
    const char *path = c->path[0] ? c->path : "engine.conf";
    char *buf = malloc(CONF_SECRET_MAX_BYTES);
    char why[4400];
    if (!buf) {
        snprintf(err, errlen, "%s: secrets: out of memory", path);
        return -ENOMEM;
    }
    for (int i = 0; i < c->nsecrets; i++) {
        const conf_secret_t *sc = &c->secrets[i];
        int rc = 0;
        if (sc->env[0]) {
            const char *v = getenv(sc->env);
            if (!v) {
                snprintf(why, sizeof why,
                         "%s:%d: secrets.%s: %s is not set; baton.secret(\"%s\") fails until it is",
                         path, sc->line, sc->name, sc->env, sc->name);
                if (warn) warn(ud, why);
                continue;
            }
            rc = secret_set(sc->name, v, strlen(v));
        } else {
            size_t n = 0;
            if (read_secret_file(sc, buf, &n, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s:%d: secrets.%s: %s", path, sc->line, sc->name, why);
                secret_unset_all();
                free(buf);
                return -EINVAL;
            }
            rc = secret_set(sc->name, buf, n);
            memset(buf, 0, n);
        }
        if (rc < 0) {
            snprintf(err, errlen, "%s:%d: secrets.%s: %s", path, sc->line, sc->name,
                     rc == -ENOENT ? "not declared (conf_secrets_declare first)" : "out of memory");
            secret_unset_all();
            free(buf);
            return rc;
        }
    }
    free(buf);
    return 0;
}
