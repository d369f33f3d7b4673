/* main.c — the command line: parses arguments, loads engine.conf, finds the
 * engine's Lua library and runs the command of the table below. */
#include <errno.h>
#include <lua.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cJSON.h>
#include <libwebsockets.h>

#include "base/secret.h"
#include "conf/conf.h"
#include "console/console.h"
#include "drytest.h"
#include "base/log.h"
#include "core/loop.h"
#include "plan.h"
#include "status.h"
#include "base/units.h"
#include "base/vclock.h"
#include "base/version.h"

enum { EXIT_USER = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

typedef struct args {
    const char *command;
    const char *conf_path;
    int conf_given;
    int json;
    const char *start, *window, *seed, *browser, *chunk;
    char *paths[256];
    size_t npaths;
} args_t;

static int usage_error(const char *fmt, const char *what) {
    fprintf(stderr, "baton: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n(run 'baton help' for usage)\n");
    return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, args_t *a) {
    static const char *const valued[] = {"-c", "--start", "--for", "--seed", "--browser", "-e"};
    memset(a, 0, sizeof *a);
    a->conf_path = "engine.conf";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int takes = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            if (strcmp(arg, valued[k]) == 0) takes = 1;
        if (takes) {
            if (i + 1 >= argc) return usage_error("%s needs a value", arg);
            const char *v = argv[++i];
            if (strcmp(arg, "-c") == 0)
                a->conf_path = v, a->conf_given = 1;
            else if (strcmp(arg, "--start") == 0)
                a->start = v;
            else if (strcmp(arg, "--for") == 0)
                a->window = v;
            else if (strcmp(arg, "--seed") == 0)
                a->seed = v;
            else if (strcmp(arg, "--browser") == 0)
                a->browser = v;
            else
                a->chunk = v;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->command = "help";
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("unknown option '%s'", arg);
        } else if (!a->command) {
            a->command = arg;
        } else if (a->npaths < sizeof a->paths / sizeof *a->paths) {
            a->paths[a->npaths++] = argv[i];
        } else {
            return usage_error("too many paths (%s)", arg);
        }
    }
    return 0;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The engine's lua/ directory: $BATON_LUA_DIR, next to the binary's tree
 * (build/baton, build/san/baton), the install location, or ./lua. */
static void find_lua_dir(char *out, size_t len) {
    char exe[4096], probe[4200];
    const char *env = getenv("BATON_LUA_DIR");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *ups[] = {"/../lua", "/../../lua", "/../share/baton/lua"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(probe, sizeof probe, "%s%s/prelude.lua", exe, ups[i]);
            if (is_file(probe)) {
                snprintf(out, len, "%s%s", exe, ups[i]);
                return;
            }
        }
    }
    snprintf(out, len, "lua");
}

static int load_conf(const args_t *a, conf_t *conf) {
    char err[1024];
    conf_defaults(conf);
    if (a->conf_given || is_file(a->conf_path)) {
        if (conf_load(conf, a->conf_path, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return EXIT_USER;
        }
    }
    find_lua_dir(conf->lua_dir, sizeof conf->lua_dir);
    log_setup((log_level_t)conf->log_level, conf->log_json);
    conf_secrets_declare(conf);
    return 0;
}

static void warn_line(void *ud, const char *line) { log_warn("%s", line); }

/* check and plan: load the scripts on a virtual clock at --start. */
static int cmd_look_ahead(const args_t *a, const conf_t *conf, int is_plan) {
    plan_opts_t o = {.json = a->json};
    o.start = vclock_wall();
    if (a->start && units_time(a->start, &o.start) < 0)
        return usage_error("--start: bad time '%s' (use 2026-01-05T00:00:00Z or epoch seconds)",
                           a->start);
    double window = 86400;
    if (a->window && (units_duration(a->window, &window) < 0 || window <= 0))
        return usage_error("--for: bad duration '%s'", a->window);
    o.end = o.start + window;
    if (a->seed) {
        char *end;
        errno = 0;
        o.seed = strtoull(a->seed, &end, 10);
        if (errno || *end || end == a->seed) return usage_error("--seed: bad number '%s'", a->seed);
        o.jitter = 1;
    }
    log_setup(LOG_WARN, 0);
    return is_plan ? plan_print(conf, a->paths, a->npaths, &o)
                   : plan_check(conf, a->paths, a->npaths, &o);
}

/* test: the dry run on a virtual clock from --start (2024-01-01, a Monday, by
 * default, so tests are reproducible) with the fake browser. */
static int cmd_test(const args_t *a, const conf_t *conf) {
    drytest_opts_t o = {
        .paths = a->paths, .npaths = a->npaths, .start = 1704067200.0, .window = 86400};
    if (a->start && units_time(a->start, &o.start) < 0)
        return usage_error("--start: bad time '%s' (use 2026-01-05T00:00:00Z or epoch seconds)",
                           a->start);
    if (a->window && (units_duration(a->window, &o.window) < 0 || o.window <= 0))
        return usage_error("--for: bad duration '%s'", a->window);
    if (a->browser && strcmp(a->browser, "fake") != 0 && strcmp(a->browser, "real") != 0)
        return usage_error("--browser: expected fake or real, got '%s'", a->browser);
    o.real = a->browser && strcmp(a->browser, "real") == 0;
    if (a->json) return usage_error("%s: test has no JSON output", "--json");
    return drytest_main(conf, &o);
}

static int print_versions(void) {
    printf("baton %s\n", BATON_VERSION);
    printf("%s\n", LUA_RELEASE);
    printf("libuv %s\n", uv_version_string());
    printf("sqlite %s\n", sqlite3_libversion());
    printf("cJSON %s\n", cJSON_Version());
    printf("libwebsockets %s\n", lws_get_library_version());
    return 0;
}

/* Only `baton run` reads the secrets' values: test, check and plan never hold them. */
static int cmd_run(const args_t *a, const conf_t *conf) {
    char err[8192];
    if (conf_secrets_read(conf, warn_line, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USER;
    }
    int rc = loop_run(conf);
    secret_reset();
    return rc;
}

static int cmd_look(const args_t *a, const conf_t *conf) { return cmd_look_ahead(a, conf, 0); }

static int cmd_plan(const args_t *a, const conf_t *conf) { return cmd_look_ahead(a, conf, 1); }

static int cmd_console(const args_t *a, const conf_t *conf) {
    return console_client(conf, a->chunk);
}

static int cmd_status(const args_t *a, const conf_t *conf) { return status_print(conf, stdout); }

static int cmd_reload(const args_t *a, const conf_t *conf) { return status_reload(conf, stdout); }

static int cmd_version(const args_t *a, const conf_t *conf) { return print_versions(); }

static int cmd_help(const args_t *a, const conf_t *conf);

enum {
    CMD_CONF = 1,     /* reads engine.conf first */
    CMD_NO_PATHS = 2, /* refuses PATH arguments */
};

/* Every command: its name, what runs it, and its lines in `baton help`
 * (synopsis, then what it does; NULL: not listed). */
typedef struct command {
    const char *name;
    int (*handler)(const args_t *a, const conf_t *conf);
    int flags;
    const char *synopsis;
    const char *what;
} command_t;

static const command_t commands[] = {
    {"run", cmd_run, CMD_CONF | CMD_NO_PATHS, "run", "start the engine in the foreground"},
    {"check", cmd_look, CMD_CONF, "check [PATH...] [--json] [--start TIME]",
     "load and validate scripts, show next starts"},
    {"plan", cmd_plan, CMD_CONF, "plan [PATH...] [--for DUR] [--start TIME] [--seed N] [--json]",
     "start timeline and collision report"},
    {"test", cmd_test, CMD_CONF, "test [PATH...] [--for DUR] [--start TIME] [--browser fake|real]",
     "dry run: *_test.lua tests, or a simulated --for\n"
     "of the schedule, on a virtual clock and a fake browser"},
    {"console", cmd_console, CMD_CONF | CMD_NO_PATHS, "console [-e CHUNK]",
     "Lua REPL attached to the running engine"},
    {"status", cmd_status, CMD_CONF | CMD_NO_PATHS, "status",
     "summary of the running engine (jobs, pool, errors)"},
    {"reload", cmd_reload, CMD_CONF | CMD_NO_PATHS, "reload",
     "reload the running engine's scripts now"},
    {"version", cmd_version, 0, "version", "versions of baton and its libraries"},
    {"help", cmd_help, 0, NULL, NULL},
};

enum { USAGE_COLUMN = 30 }; /* where what a command does begins */

static void usage(FILE *f) {
    fprintf(f, "usage: baton COMMAND [-c FILE] [options]\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const command_t *c = &commands[i];
        if (!c->synopsis) continue;
        int n = fprintf(f, "  %s", c->synopsis);
        if (n >= USAGE_COLUMN) n = fprintf(f, "\n") - 1;
        for (const char *w = c->what; *w;) {
            size_t k = strcspn(w, "\n");
            fprintf(f, "%*s%.*s\n", USAGE_COLUMN - n, "", (int)k, w);
            w += k + (w[k] == '\n');
            n = 0;
        }
    }
    fprintf(f, "\n"
               "  -c FILE    configuration (default ./engine.conf)\n"
               "  TIME       ISO 8601 UTC (2026-01-05T00:00:00Z) or epoch seconds; default now\n"
               "             (test: 2024-01-01T00:00:00Z, so tests are reproducible)\n");
}

static int cmd_help(const args_t *a, const conf_t *conf) {
    usage(stdout);
    return 0;
}

int main(int argc, char **argv) {
    args_t a;
    conf_t conf;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    if (!a.command) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const command_t *c = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof *commands && !c; i++)
        if (strcmp(a.command, commands[i].name) == 0) c = &commands[i];
    if (!c) return usage_error("unknown command '%s'", a.command);
    if ((c->flags & CMD_NO_PATHS) && a.npaths) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s takes no paths (got '%.500s')", c->name, a.paths[0]);
        return usage_error("%s", msg);
    }
    if (!(c->flags & CMD_CONF)) return c->handler(&a, NULL);
    if ((rc = load_conf(&a, &conf)) != 0) return rc;
    rc = c->handler(&a, &conf);
    conf_free(&conf);
    return rc;
}
