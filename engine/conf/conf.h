/* conf.h — engine.conf: a Lua-syntax file evaluated in an empty sandbox, with a
 * default for every key. Unknown keys, wrong types, bad durations or sizes are
 * reported as "engine.conf:LINE: message". Relative paths (scripts, database,
 * console.socket) are resolved against the directory of the config file. */
#ifndef BATON_CONF_H
#define BATON_CONF_H

#include <stddef.h>

#include "base/breaker.h"

enum { CONF_MAX_BREAKERS = 64, CONF_MAX_LIST = 32, CONF_MAX_SECRETS = 64 };

/* The longest retry-budget window, seconds: the budget counts one slot a second. */
enum { CONF_RETRY_WINDOW_MAX = 60 };

typedef enum { CONF_LOG_DEBUG, CONF_LOG_INFO, CONF_LOG_WARN, CONF_LOG_ERROR } conf_log_level_t;

typedef struct conf_retry {
    int attempts;     /* >= 1; 3 */
    char backoff[16]; /* "exponential" | "linear" | "constant" */
    double base, max; /* seconds: 1, 30 */
    char jitter[16];  /* "none" | "full" | "equal" | "decorrelated"; "full" */
} conf_retry_t;

typedef struct conf_breaker {
    char name[64];
    int failures;       /* consecutive failures that open it; 5 */
    double cooldown;    /* seconds; 300 */
    int window_calls;   /* failure rate over the last N calls; 0 = off */
    double window_time; /* or over the last N seconds (whole, <= 3600); 0 = off */
    int min_calls;      /* calls in the window before the rate counts; 10 */
    int failure_rate;   /* percent of failures in the window that opens it; 50 */
    double slow_call;   /* a success slower than this counts as a failure; 0 = off */
    int probes;         /* calls let through while half-open; 1 */
} conf_breaker_t;

/* secrets.NAME: where a secret's value is read from at `baton run`'s start. */
typedef struct conf_secret {
    char name[64];
    char env[256];   /* env = "VAR": the environment variable; "" when file */
    char file[4096]; /* file = "secrets/x": resolved; "" when env */
    int line;        /* the entry's line in engine.conf, for errors when read */
} conf_secret_t;

typedef struct conf {
    char path[4096];            /* the file loaded ("" when defaults only) */
    char scripts[4096];         /* "scripts" resolved */
    int watch;                  /* watch = true: reload when scripts/ changes */
    char lua_dir[4096];         /* the engine's own lua/ library; set by the caller, not a key */
    char database[4096];        /* "baton.db" resolved; ":memory:" kept as is */
    conf_log_level_t log_level; /* info */
    int log_json;               /* format = "json" */
    char http_listen[256];      /* "127.0.0.1:8080" */
    char http_token[256];       /* "" = none */
    char console_socket[4096];  /* "baton.sock" resolved */
    int max_concurrent_runs;    /* limits.max_concurrent_runs = 8 */
    double shutdown_timeout;    /* limits.shutdown_timeout = 30 s */
    double retention;           /* limits.retention = 30 d: runs older are pruned */
    size_t sandbox_memory;      /* sandbox.memory = 64 MB */
    double cpu_slice;           /* sandbox.cpu_slice = 0.2 s */
    struct {
        char executable[4096]; /* "" = Debian's chromium */
        char user[64];         /* who the browser runs as when the engine is root: "nobody";
                                  "root" keeps it root (and its sandbox off) */
        int user_known;        /* user_uid and user_gid are that user's (getpwnam) */
        unsigned user_uid, user_gid;
        char *args[CONF_MAX_LIST];
        int nargs;
        char *endpoints[CONF_MAX_LIST];
        int nendpoints;
        char *schemes[CONF_MAX_LIST]; /* what pages may load; none: http, https, data */
        char raw_cdp[8];              /* "page": page:send's allowlist; "any": none (trusted) */
        int nschemes;
        int browsers;           /* 1 */
        int max_pages;          /* 4 */
        int reserve_critical;   /* reserve.critical = 1 */
        int reserve_high;       /* reserve.high = 0 */
        int burst;              /* 1 */
        double idle_timeout;    /* 60 s */
        int max_uses;           /* 50 */
        double acquire_timeout; /* 30 s */
        double heartbeat;       /* Browser.getVersion every 10 s; no answer within as long:
                                   the browser is hung, killed and relaunched. 0: none */
        int warm;               /* pages kept open even when idle: 1 (<= max_pages) */
        int pages_per_context;  /* pooled pages of runs without a session that share one
                                   browser context; 0 (the key unset): max_pages */
    } browser;
    double default_timeout;     /* defaults.timeout = 120 s */
    conf_retry_t default_retry; /* defaults.retry */
    struct {                    /* defaults.retry_budget: engine-wide cap on retries */
        int percent;            /* retries may add this % to the calls in the window: 20 */
        int floor;              /* retries always allowed per window: 3 */
        double window;          /* seconds: 10 (at most 60) */
    } retry_budget;
    conf_breaker_t breakers[CONF_MAX_BREAKERS];
    int nbreakers;
    struct {                 /* http_client: baton.http's client */
        int max_connections; /* open connections in all: 64 (1-10000) */
        int max_per_host;    /* to one host: 8 (1-10000, <= max_connections) */
        double timeout;      /* a request naming none: 30 s (> 0) */
        size_t max_bytes;    /* an answer's body naming none: 10 MB (>= 1 KB) */
        char proxy[1024];    /* "" = none; else scheme://host:port (http, https, socks4, socks5) */
        char ca_file[4096];  /* "" = the system's CA store; else PEM file(s), resolved */
    } http_client;
    conf_secret_t secrets[CONF_MAX_SECRETS]; /* secrets = { NAME = { env | file } } */
    int nsecrets;
} conf_t;

/* Fills *c with every default (paths relative to the current directory). */
void conf_defaults(conf_t *c);

/* Loads path over the defaults. Returns 0, -ENOENT when the file is missing
 * (err says so), or -EINVAL with "FILE:LINE: message" in err for a syntax
 * error, an unknown key (named with its full path, e.g. "browser.max_contxts"),
 * a wrong type, a bad duration or size, or an out-of-range value. Other
 * failures to read the file (-EISDIR, -EFBIG past 1 MB, -EACCES, -ENOMEM) also
 * come with a message. On any error *c is left as it was. */
int conf_load(conf_t *c, const char *path, char *err, size_t errlen);

/* The breaker state-machine options a `breakers` entry stands for (checked
 * by conf_load, so they are valid for every loaded entry). */
void conf_breaker_opts(const conf_breaker_t *cb, breaker_opts_t *o);

/* Declares every secret of c (base/secret.h) without a value: what scripts
 * may name in baton.secret. Forgets the names declared before. */
void conf_secrets_declare(const conf_t *c);

/* Reads the value of every secret of c (baton run, at start): 0, or -EINVAL
 * with "engine.conf:LINE: secrets.NAME: ..." in err for a file that is
 * missing, unreadable, not a regular file, larger than 64 KB or readable or
 * writable by others (one trailing newline is dropped). A variable that is not
 * set leaves that secret unset with a line through warn (may be NULL). */
int conf_secrets_read(const conf_t *c, void (*warn)(void *ud, const char *line), void *ud,
                      char *err, size_t errlen);

/* Releases what conf_load allocated (browser args and endpoints). */
void conf_free(conf_t *c);

#endif
