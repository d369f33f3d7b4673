/* test_conf.c — engine.conf loading on real files in a fresh temp dir: defaults, every
 * key, path resolution, one exact "file:line: message" for each kind of bad input, the
 * sandbox's limits, and that conf_load/conf_free own the list strings correctly. */
#include <errno.h>
#include <pwd.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "conf/conf.h"
#include "test.h"

/* ---- temp dir and files ---- */

static char tmp_dir[64];
static char conf_path[512]; /* the file load_text writes */

static void tmp_init(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/baton-conf-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(conf_path, sizeof conf_path, "%s/engine.conf", tmp_dir);
}

static void tmp_done(void) { fs_remove_tree(tmp_dir); }

static void write_file(const char *path, const char *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_INT(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

/* Writes text to conf_path and loads it over the defaults. */
static int load_text(conf_t *c, const char *text, char *err, size_t errlen) {
    write_file(conf_path, text, strlen(text));
    conf_defaults(c);
    return conf_load(c, conf_path, err, errlen);
}

/* Loading text fails with exactly "<conf_path>:<where_what>", on one line. */
#define CHECK_CONF_ERROR(text, where_what)                                                         \
    do {                                                                                           \
        char e_[1024], want_[1024];                                                                \
        conf_t c_;                                                                                 \
        CHECK_INT(load_text(&c_, (text), e_, sizeof e_), -EINVAL);                                 \
        snprintf(want_, sizeof want_, "%s:%s", conf_path, (where_what));                           \
        CHECK_STR(e_, want_);                                                                      \
        CHECK(strchr(e_, '\n') == NULL);                                                           \
        conf_free(&c_);                                                                            \
    } while (0)

static void check_same_as_defaults(const conf_t *c) {
    conf_t d;
    conf_defaults(&d);
    CHECK_STR(c->scripts, d.scripts);
    CHECK_STR(c->database, d.database);
    CHECK_INT(c->log_level, d.log_level);
    CHECK_INT(c->log_json, d.log_json);
    CHECK_STR(c->http_listen, d.http_listen);
    CHECK_STR(c->http_token, d.http_token);
    CHECK_STR(c->console_socket, d.console_socket);
    CHECK_INT(c->max_concurrent_runs, d.max_concurrent_runs);
    CHECK_NUM(c->shutdown_timeout, d.shutdown_timeout);
    CHECK_NUM(c->retention, d.retention);
    CHECK_INT(c->sandbox_memory, d.sandbox_memory);
    CHECK_NUM(c->cpu_slice, d.cpu_slice);
    CHECK_STR(c->browser.executable, d.browser.executable);
    CHECK_STR(c->browser.user, d.browser.user);
    CHECK_INT(c->browser.nargs, 0);
    CHECK_INT(c->browser.nendpoints, 0);
    CHECK_INT(c->browser.browsers, d.browser.browsers);
    CHECK_INT(c->browser.max_pages, d.browser.max_pages);
    CHECK_INT(c->browser.reserve_critical, d.browser.reserve_critical);
    CHECK_INT(c->browser.reserve_high, d.browser.reserve_high);
    CHECK_INT(c->browser.burst, d.browser.burst);
    CHECK_NUM(c->browser.idle_timeout, d.browser.idle_timeout);
    CHECK_INT(c->browser.max_uses, d.browser.max_uses);
    CHECK_NUM(c->browser.acquire_timeout, d.browser.acquire_timeout);
    CHECK_INT(c->browser.pages_per_context, d.browser.pages_per_context);
    CHECK_NUM(c->default_timeout, d.default_timeout);
    CHECK_INT(c->default_retry.attempts, d.default_retry.attempts);
    CHECK_STR(c->default_retry.backoff, d.default_retry.backoff);
    CHECK_NUM(c->default_retry.base, d.default_retry.base);
    CHECK_NUM(c->default_retry.max, d.default_retry.max);
    CHECK_STR(c->default_retry.jitter, d.default_retry.jitter);
    CHECK_INT(c->nbreakers, 0);
    CHECK_INT(c->http_client.max_connections, d.http_client.max_connections);
    CHECK_INT(c->http_client.max_per_host, d.http_client.max_per_host);
    CHECK_NUM(c->http_client.timeout, d.http_client.timeout);
    CHECK_INT(c->http_client.max_bytes, d.http_client.max_bytes);
    CHECK_STR(c->http_client.proxy, d.http_client.proxy);
    CHECK_STR(c->http_client.ca_file, d.http_client.ca_file);
}

/* ---- defaults and good files ---- */

TEST(defaults_are_the_documented_values) {
    conf_t c;
    conf_defaults(&c);
    CHECK_STR(c.path, "");
    CHECK_STR(c.lua_dir, "");
    CHECK_STR(c.scripts, "scripts");
    CHECK_INT(c.watch, 1);
    CHECK_STR(c.database, "baton.db");
    CHECK_INT(c.log_level, CONF_LOG_INFO);
    CHECK_INT(c.log_json, 0);
    CHECK_STR(c.http_listen, "127.0.0.1:8080");
    CHECK_STR(c.http_token, "");
    CHECK_STR(c.console_socket, "baton.sock");
    CHECK_INT(c.max_concurrent_runs, 8);
    CHECK_NUM(c.shutdown_timeout, 30);
    CHECK_NUM(c.retention, 30 * 86400);
    CHECK_INT(c.sandbox_memory, 64 << 20);
    CHECK_NUM(c.cpu_slice, 0.2);
    CHECK_STR(c.browser.executable, "");
    CHECK_STR(c.browser.raw_cdp, "page");
    CHECK_STR(c.browser.user, "nobody");
    CHECK_INT(c.browser.nschemes, 0); /* http, https, data (page_policy_url) */
    CHECK_INT(c.browser.nargs, 0);
    CHECK_INT(c.browser.nendpoints, 0);
    CHECK_INT(c.browser.browsers, 1);
    CHECK_INT(c.browser.max_pages, 4);
    CHECK_INT(c.browser.reserve_critical, 1);
    CHECK_INT(c.browser.reserve_high, 0);
    CHECK_INT(c.browser.burst, 1);
    CHECK_NUM(c.browser.idle_timeout, 60);
    CHECK_INT(c.browser.max_uses, 50);
    CHECK_NUM(c.browser.acquire_timeout, 30);
    CHECK_NUM(c.browser.heartbeat, 10);
    CHECK_INT(c.browser.pages_per_context, 0); /* unset: as many as max_pages */
    CHECK_NUM(c.default_timeout, 120);
    CHECK_INT(c.default_retry.attempts, 3);
    CHECK_STR(c.default_retry.backoff, "exponential");
    CHECK_NUM(c.default_retry.base, 1);
    CHECK_NUM(c.default_retry.max, 30);
    CHECK_STR(c.default_retry.jitter, "full");
    CHECK_INT(c.nbreakers, 0);
    conf_free(&c);
}

TEST(empty_file_is_valid_and_keeps_every_default) {
    conf_t c;
    char err[512], want[600];
    tmp_init();
    CHECK_INT(load_text(&c, "", err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_STR(c.path, conf_path);
    /* paths the file leaves out are resolved against its directory too */
    snprintf(want, sizeof want, "%s/scripts", tmp_dir);
    CHECK_STR(c.scripts, want);
    snprintf(want, sizeof want, "%s/baton.db", tmp_dir);
    CHECK_STR(c.database, want);
    snprintf(want, sizeof want, "%s/baton.sock", tmp_dir);
    CHECK_STR(c.console_socket, want);
    CHECK_INT(c.max_concurrent_runs, 8);
    CHECK_INT(c.sandbox_memory, 64 << 20);
    CHECK_STR(c.default_retry.jitter, "full");
    /* comments and blank lines only are just as empty */
    CHECK_INT(load_text(&c, "-- nothing here\n\n--[[ nor\nhere ]]\n", err, sizeof err), 0);
    CHECK_INT(c.browser.max_pages, 4);
    conf_free(&c);
    tmp_done();
}

static const char full_file[] =
    "scripts  = \"jobs\"\n"
    "watch    = false\n"
    "database = \"/var/lib/baton/state.db\"\n"
    "log      = { level = \"debug\", format = \"json\" }\n"
    "http     = { listen = \"0.0.0.0:9000\", token = \"s3cret\" }\n"
    "console  = { socket = \"run/baton.sock\" }\n"
    "limits   = { max_concurrent_runs = 16, shutdown_timeout = \"45s\", retention = \"7d\" }\n"
    "sandbox  = { memory = \"128MB\", cpu_slice = \"500ms\" }\n"
    "browser  = {\n"
    "  executable = \"/opt/chrome/chrome\", args = { \"--headless=new\", \"--lang=en-US\" },\n"
    "  endpoints  = { \"ws://10.0.0.5:9222/devtools/browser/abc\", \"http://10.0.0.6:9222\" },\n"
    "  browsers = 2, max_pages = 10,\n"
    "  reserve = { critical = 2, high = 3 },\n"
    "  burst = 4,\n"
    "  idle_timeout = \"2m\", max_uses = 100, acquire_timeout = \"1m30s\",\n"
    "  pages_per_context = 3, heartbeat = \"30s\",\n"
    "}\n"
    "defaults = { timeout = \"5m\", retry = { attempts = 5, backoff = \"linear\",\n"
    "             base = \"250ms\", max = \"1m\", jitter = \"decorrelated\" } }\n"
    "breakers = { twitter = { failures = 3, cooldown = \"10m\" },\n"
    "             github  = { failures = 7, cooldown = 90 } }\n"
    "http_client = { max_connections = 100, max_per_host = 10, timeout = \"1m\",\n"
    "                max_bytes = \"2MB\", proxy = \"http://proxy.local:3128\" }\n";

TEST(full_file_sets_every_key) {
    conf_t c;
    char err[512], want[600];
    tmp_init();
    CHECK_INT(load_text(&c, full_file, err, sizeof err), 0);
    CHECK_STR(err, "");
    snprintf(want, sizeof want, "%s/jobs", tmp_dir);
    CHECK_STR(c.scripts, want);
    CHECK_INT(c.watch, 0);
    CHECK_STR(c.database, "/var/lib/baton/state.db");
    CHECK_INT(c.log_level, CONF_LOG_DEBUG);
    CHECK_INT(c.log_json, 1);
    CHECK_STR(c.http_listen, "0.0.0.0:9000");
    CHECK_STR(c.http_token, "s3cret");
    snprintf(want, sizeof want, "%s/run/baton.sock", tmp_dir);
    CHECK_STR(c.console_socket, want);
    CHECK_INT(c.max_concurrent_runs, 16);
    CHECK_NUM(c.shutdown_timeout, 45);
    CHECK_NUM(c.retention, 7 * 86400);
    CHECK_INT(c.sandbox_memory, 128 << 20);
    CHECK_NUM(c.cpu_slice, 0.5);
    CHECK_STR(c.browser.executable, "/opt/chrome/chrome");
    CHECK_INT(c.browser.nargs, 2);
    CHECK_STR(c.browser.args[0], "--headless=new");
    CHECK_STR(c.browser.args[1], "--lang=en-US");
    CHECK_INT(c.browser.nendpoints, 2);
    CHECK_STR(c.browser.endpoints[0], "ws://10.0.0.5:9222/devtools/browser/abc");
    CHECK_STR(c.browser.endpoints[1], "http://10.0.0.6:9222");
    CHECK_INT(c.browser.browsers, 2);
    CHECK_INT(c.browser.max_pages, 10);
    CHECK_INT(c.browser.reserve_critical, 2);
    CHECK_INT(c.browser.reserve_high, 3);
    CHECK_INT(c.browser.burst, 4);
    CHECK_NUM(c.browser.idle_timeout, 120);
    CHECK_INT(c.browser.max_uses, 100);
    CHECK_NUM(c.browser.acquire_timeout, 90);
    CHECK_INT(c.browser.pages_per_context, 3);
    CHECK_NUM(c.browser.heartbeat, 30);
    CHECK_NUM(c.default_timeout, 300);
    CHECK_INT(c.default_retry.attempts, 5);
    CHECK_STR(c.default_retry.backoff, "linear");
    CHECK_NUM(c.default_retry.base, 0.25);
    CHECK_NUM(c.default_retry.max, 60);
    CHECK_STR(c.default_retry.jitter, "decorrelated");
    /* breakers come sorted by name */
    CHECK_INT(c.nbreakers, 2);
    CHECK_STR(c.breakers[0].name, "github");
    CHECK_INT(c.breakers[0].failures, 7);
    CHECK_NUM(c.breakers[0].cooldown, 90);
    CHECK_STR(c.breakers[1].name, "twitter");
    CHECK_INT(c.breakers[1].failures, 3);
    CHECK_NUM(c.breakers[1].cooldown, 600);
    CHECK_INT(c.http_client.max_connections, 100);
    CHECK_INT(c.http_client.max_per_host, 10);
    CHECK_NUM(c.http_client.timeout, 60);
    CHECK_INT(c.http_client.max_bytes, 2 << 20);
    CHECK_STR(c.http_client.proxy, "http://proxy.local:3128");
    conf_free(&c);
    tmp_done();
}

TEST(nested_tables_set_only_the_keys_they_name) {
    conf_t c;
    char err[512];
    tmp_init();
    CHECK_INT(load_text(&c,
                        "log = { format = \"json\" }\n"
                        "browser = { reserve = { high = 2 } }\n"
                        "defaults = { retry = { attempts = 1 } }\n"
                        "breakers = { site = {} }\n",
                        err, sizeof err),
              0);
    CHECK_STR(err, "");
    CHECK_INT(c.log_level, CONF_LOG_INFO);
    CHECK_INT(c.log_json, 1);
    CHECK_INT(c.browser.reserve_critical, 1);
    CHECK_INT(c.browser.reserve_high, 2);
    CHECK_INT(c.browser.max_pages, 4);
    CHECK_INT(c.default_retry.attempts, 1);
    CHECK_STR(c.default_retry.backoff, "exponential");
    CHECK_NUM(c.default_timeout, 120);
    CHECK_INT(c.nbreakers, 1);
    CHECK_STR(c.breakers[0].name, "site");
    CHECK_INT(c.breakers[0].failures, 5);
    CHECK_NUM(c.breakers[0].cooldown, 300);
    conf_free(&c);
    tmp_done();
}

TEST(locals_expressions_and_plain_numbers_are_allowed) {
    conf_t c;
    char err[512];
    tmp_init();
    CHECK_INT(load_text(&c,
                        "local root = \"/srv/baton\"\n"
                        "local n = 3\n"
                        "scripts = root .. \"/scripts\"\n"
                        "limits = { max_concurrent_runs = n * 2, shutdown_timeout = 12.5,\n"
                        "           retention = 0 }\n"
                        "sandbox = { memory = 2097152, cpu_slice = 0 }\n"
                        "browser = { max_pages = 4.0 }\n"
                        "database = scripts .. \".db\"\n",
                        err, sizeof err),
              0);
    CHECK_STR(err, "");
    CHECK_STR(c.scripts, "/srv/baton/scripts");
    CHECK_STR(c.database, "/srv/baton/scripts.db"); /* globals read back what was set */
    CHECK_INT(c.max_concurrent_runs, 6);
    CHECK_NUM(c.shutdown_timeout, 12.5);
    CHECK_NUM(c.retention, 0);
    CHECK_INT(c.sandbox_memory, 2 << 20);
    CHECK_NUM(c.cpu_slice, 0);
    CHECK_INT(c.browser.max_pages, 4);
    conf_free(&c);
    tmp_done();
}

TEST(max_contexts_is_the_old_name_of_max_pages) {
    tmp_init();
    conf_t c;
    char err[256];
    const char *old = "browser = { max_contexts = 7 }\n"; /* old name */
    CHECK_INT(load_text(&c, old, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(c.browser.max_pages, 7);
    conf_free(&c);
    const char *bad = "browser = { max_contexts = 0 }\n";                           /* old name */
    const char *why = "1: browser.max_contexts: must be between 1 and 1024, got 0"; /* old name */
    CHECK_CONF_ERROR(bad, why);
    tmp_done();
}

TEST(browser_schemes_and_raw_cdp_are_checked) {
    tmp_init();
    conf_t c;
    char err[256];
    CHECK_INT(load_text(&c, "browser = { schemes = { 'https', 'file' }, raw_cdp = 'any' }\n", err,
                        sizeof err),
              0);
    CHECK_INT(c.browser.nschemes, 2);
    CHECK_STR(c.browser.schemes[1], "file");
    CHECK_STR(c.browser.raw_cdp, "any");
    conf_free(&c);
    CHECK_CONF_ERROR("browser = { schemes = { 'https', 'File:' } }\n",
                     "1: browser.schemes[2]: expected a URL scheme in lower case (\"https\", "
                     "\"file\"), got 'File:'");
    CHECK_CONF_ERROR("browser = { raw_cdp = 'all' }\n",
                     "1: browser.raw_cdp: expected one of page, any");
    tmp_done();
}

/* browser.user names a user of this system, looked up as the file loads:
 * its uid and gid come with it; an unknown one is an error naming it. */
TEST(browser_user_is_looked_up_and_an_unknown_one_is_an_error) {
    tmp_init();
    conf_t c;
    char err[256];
    struct passwd *root = getpwuid(0);
    CHECK(root != NULL);
    char text[200];
    snprintf(text, sizeof text, "browser = { user = '%s' }\n", root ? root->pw_name : "root");
    CHECK_INT(load_text(&c, text, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(c.browser.user_known, 1);
    CHECK_INT(c.browser.user_uid, 0);
    CHECK_INT(c.browser.user_gid, root ? (int)root->pw_gid : 0);
    conf_free(&c);
    CHECK_CONF_ERROR("log = { level = 'info' }\nbrowser = {\n  user = 'no-such-user-here',\n}\n",
                     "3: browser.user: no user 'no-such-user-here' on this system");
    CHECK_CONF_ERROR("browser = { user = '' }\n", "1: browser.user: must not be empty");
    CHECK_CONF_ERROR("browser = { user = 65534 }\n",
                     "1: browser.user: expected a string, got number");
    tmp_done();
}

TEST(shipped_engine_conf_loads_and_matches_the_defaults) {
    /* the repository root, from this file's own path as the compiler saw it */
    char root[1024], path[1100], err[512];
    const char *self = __FILE__, *suffix = "tests/unit/test_conf.c";
    size_t n = strlen(self) > strlen(suffix) ? strlen(self) - strlen(suffix) : 0;
    conf_t c;
    CHECK(strcmp(self + n, suffix) == 0);
    snprintf(root, sizeof root, "%.*s", (int)n, self);
    snprintf(path, sizeof path, "%sengine.conf", root);
    conf_defaults(&c);
    CHECK_INT(conf_load(&c, path, err, sizeof err), 0);
    CHECK_STR(err, "");
    if (root[0]) { /* compiled from elsewhere: the paths point next to the file */
        snprintf(c.scripts, sizeof c.scripts, "scripts");
        snprintf(c.database, sizeof c.database, "baton.db");
        snprintf(c.console_socket, sizeof c.console_socket, "baton.sock");
    }
    check_same_as_defaults(&c);
    conf_free(&c);
}

/* ---- paths ---- */

TEST(relative_paths_resolve_against_the_files_directory) {
    conf_t c;
    char err[512], sub[600], path[700], want[800];
    tmp_init();
    snprintf(sub, sizeof sub, "%s/etc", tmp_dir);
    CHECK_INT(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/baton.conf", sub);
    const char *text = "scripts = \"../jobs\"\n"
                       "database = \":memory:\"\n"
                       "console = { socket = \"/run/baton/baton.sock\" }\n";
    write_file(path, text, strlen(text));
    conf_defaults(&c);
    CHECK_INT(conf_load(&c, path, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_STR(c.path, path);
    snprintf(want, sizeof want, "%s/../jobs", sub);
    CHECK_STR(c.scripts, want);
    CHECK_STR(c.database, ":memory:");
    CHECK_STR(c.console_socket, "/run/baton/baton.sock");

    /* a relative database is resolved like the others */
    text = "database = \"data/b.db\"\n";
    write_file(path, text, strlen(text));
    conf_defaults(&c);
    CHECK_INT(conf_load(&c, path, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/data/b.db", sub);
    CHECK_STR(c.database, want);
    snprintf(want, sizeof want, "%s/scripts", sub);
    CHECK_STR(c.scripts, want);
    conf_free(&c);
    tmp_done();
}

TEST(file_in_the_cwd_keeps_relative_paths_as_written) {
    conf_t c;
    char err[512];
    tmp_init();
    CHECK_INT(chdir(tmp_dir), 0); /* each test runs in its own child process */
    const char *text = "scripts = \"jobs\"\n";
    write_file("engine.conf", text, strlen(text));
    conf_defaults(&c);
    CHECK_INT(conf_load(&c, "engine.conf", err, sizeof err), 0);
    CHECK_STR(c.path, "engine.conf");
    CHECK_STR(c.scripts, "jobs");
    CHECK_STR(c.database, "baton.db");
    CHECK_STR(c.console_socket, "baton.sock");
    conf_free(&c);
    tmp_done();
}

/* ---- bad input: one exact line each ---- */

TEST(unknown_top_level_key_is_named_with_its_line) {
    tmp_init();
    CHECK_CONF_ERROR("scripts = \"scripts\"\n\nscritps = \"x\"\n", "3: unknown key 'scritps'");
    /* a table spanning lines is reported where its name is, not where it ends */
    CHECK_CONF_ERROR("\nbrowsr = {\n  max_pages = 4,\n}\n", "2: unknown key 'browsr'");
    tmp_done();
}

TEST(unknown_nested_key_is_reported_on_its_own_line) {
    tmp_init();
    CHECK_CONF_ERROR("-- pool\n"
                     "browser = {\n"
                     "  reserve = { critical = 1 },\n"
                     "  max_pages = 4,\n"
                     "  burst = 1,\n"
                     "  max_contxts = 5,\n"
                     "  idle_timeout = \"60s\",\n"
                     "}\n",
                     "6: unknown key 'browser.max_contxts'");
    /* a name that also exists one level deeper is found at its own level */
    CHECK_CONF_ERROR("browser = {\n"
                     "  reserve = { critical = 1 },\n"
                     "  critical = 2,\n"
                     "}\n",
                     "3: unknown key 'browser.critical'");
    /* three levels down */
    CHECK_CONF_ERROR("breakers = {\n"
                     "  twitter = {\n"
                     "    failures = 5,\n"
                     "    coolDown = \"5m\",\n"
                     "  },\n"
                     "}\n",
                     "4: unknown key 'breakers.twitter.coolDown'");
    CHECK_CONF_ERROR("defaults = {\n  retry = {\n    tries = 3 } }\n",
                     "3: unknown key 'defaults.retry.tries'");
    tmp_done();
}

TEST(keys_that_are_not_names_are_unknown) {
    tmp_init();
    CHECK_CONF_ERROR("log = { \"debug\" }\n", "1: unknown key 'log[1]'");
    CHECK_CONF_ERROR("\n_ENV[1] = 2\n", "2: unknown key '[1]'");
    CHECK_CONF_ERROR("breakers = { [true] = {} }\n", "1: unknown key 'breakers[true]'");
    tmp_done();
}

TEST(wrong_type_names_the_key_and_both_types) {
    tmp_init();
    CHECK_CONF_ERROR("\n\nlog = { level = 3 }\n", "3: log.level: expected a string, got number");
    CHECK_CONF_ERROR("log = \"debug\"\n", "1: log: expected a table, got string");
    CHECK_CONF_ERROR("scripts = true\n", "1: scripts: expected a string, got boolean");
    CHECK_CONF_ERROR("\nwatch = \"yes\"\n", "2: watch: expected true or false, got string");
    CHECK_CONF_ERROR("watch = 1\n", "1: watch: expected true or false, got number");
    CHECK_CONF_ERROR("limits = { max_concurrent_runs = \"8\" }\n",
                     "1: limits.max_concurrent_runs: expected an integer, got string");
    CHECK_CONF_ERROR("limits = { shutdown_timeout = {} }\n",
                     "1: limits.shutdown_timeout: expected a duration, got table");
    CHECK_CONF_ERROR("sandbox = { memory = false }\n",
                     "1: sandbox.memory: expected a size, got boolean");
    CHECK_CONF_ERROR("browser = { args = \"--headless\" }\n",
                     "1: browser.args: expected a list of strings, got string");
    CHECK_CONF_ERROR("breakers = { site = 5 }\n", "1: breakers.site: expected a table, got number");
    CHECK_CONF_ERROR("defaults = { retry = 5 }\n",
                     "1: defaults.retry: expected a table, got number");
    tmp_done();
}

TEST(bad_duration_quotes_the_value) {
    tmp_init();
    CHECK_CONF_ERROR("-- 1\n-- 2\n-- 3\n-- 4\n-- 5\n-- 6\n-- 7\n-- 8\n-- 9\n-- 10\n"
                     "limits = {\n"
                     "  shutdown_timeout = \"5 sec\",\n"
                     "}\n",
                     "12: limits.shutdown_timeout: bad duration '5 sec'");
    CHECK_CONF_ERROR("defaults = { timeout = -5 }\n",
                     "1: defaults.timeout: must be between 1ms and 7d, got -5s");
    CHECK_CONF_ERROR("defaults = { timeout = 1/0 }\n", "1: defaults.timeout: bad duration inf");
    CHECK_CONF_ERROR("browser = { idle_timeout = \"1mo\" }\n",
                     "1: browser.idle_timeout: bad duration '1mo'");
    CHECK_CONF_ERROR("defaults = { timeout = 0 }\n",
                     "1: defaults.timeout: must be between 1ms and 7d, got 0s");
    tmp_done();
}

TEST(bad_size_quotes_the_value) {
    tmp_init();
    CHECK_CONF_ERROR("sandbox = {\n  memory = \"64 MB\",\n}\n",
                     "2: sandbox.memory: bad size '64 MB'");
    CHECK_CONF_ERROR("sandbox = { memory = 1.5 }\n", "1: sandbox.memory: bad size 1.5");
    CHECK_CONF_ERROR("sandbox = { memory = \"64TB\" }\n", "1: sandbox.memory: bad size '64TB'");
    CHECK_CONF_ERROR(
        "sandbox = { memory = \"100KB\" }\n",
        "1: sandbox.memory: must be between 1MB and 64GB, or 0 for no limit, got 100KB");
    tmp_done();
}

TEST(bad_enum_lists_the_choices) {
    tmp_init();
    CHECK_CONF_ERROR("\n\nlog = { level = \"verbose\" }\n",
                     "3: log.level: expected one of debug, info, warn, error");
    CHECK_CONF_ERROR("log = { format = \"xml\" }\n", "1: log.format: expected one of text, json");
    CHECK_CONF_ERROR("defaults = { retry = { backoff = \"fibonacci\" } }\n",
                     "1: defaults.retry.backoff: expected one of exponential, linear, constant");
    CHECK_CONF_ERROR("defaults = { retry = {\n jitter = \"some\" } }\n",
                     "2: defaults.retry.jitter: expected one of none, full, equal, decorrelated");
    tmp_done();
}

TEST(integers_must_be_integral_and_in_range) {
    tmp_init();
    CHECK_CONF_ERROR("limits = { max_concurrent_runs = 0 }\n",
                     "1: limits.max_concurrent_runs: must be between 1 and 10000, got 0");
    CHECK_CONF_ERROR("limits = { max_concurrent_runs = 2.5 }\n",
                     "1: limits.max_concurrent_runs: expected an integer, got 2.5");
    CHECK_CONF_ERROR("defaults = { retry = { attempts = 0 } }\n",
                     "1: defaults.retry.attempts: must be between 1 and 1000, got 0");
    CHECK_CONF_ERROR("browser = { burst = -1 }\n",
                     "1: browser.burst: must be between 0 and 1024, got -1");
    CHECK_CONF_ERROR("browser = { max_pages = 1e300 }\n",
                     "1: browser.max_pages: expected an integer, got 1e+300");
    CHECK_CONF_ERROR("breakers = {\n  site = { failures = 0 } }\n",
                     "2: breakers.site.failures: must be between 1 and 1000000, got 0");
    tmp_done();
}

/* The retry budget counts one slot a second for at most a minute: a longer
 * window is refused, not silently shortened. */
TEST(durations_with_a_range_refuse_values_outside_it) {
    tmp_init();
    CHECK_CONF_ERROR("defaults = { retry_budget = { window = \"1h\" } }\n",
                     "1: defaults.retry_budget.window: must be between 1s and 1m, got 1h");
    CHECK_CONF_ERROR("defaults = { retry_budget = { window = 0.5 } }\n",
                     "1: defaults.retry_budget.window: must be between 1s and 1m, got 500ms");
    CHECK_CONF_ERROR("defaults = { retry_budget = { window = 0 } }\n",
                     "1: defaults.retry_budget.window: must be between 1s and 1m, got 0s");
    conf_t c;
    char err[256] = "";
    CHECK_INT(
        load_text(&c, "defaults = { retry_budget = { window = \"60s\" } }\n", err, sizeof err), 0);
    CHECK_NUM(c.retry_budget.window, 60);
    conf_free(&c);
    tmp_done();
}

/* One row per key with a range: a value just past each end is refused with the range
 * in the message, and each end itself loads (lo_ok/hi_ok NULL where another key's
 * check forbids that end on its own). pre + value + post is the whole file. */
typedef struct range_case {
    const char *pre, *post, *key, *range;
    const char *lo_ok, *hi_ok;
    const char *below, *below_shown, *above, *above_shown;
} range_case_t;

static const range_case_t range_cases[] = {
    {"limits = { max_concurrent_runs = ", " }", "limits.max_concurrent_runs", "1 and 10000", "1",
     "10000", "0", "0", "10001", "10001"},
    {"limits = { shutdown_timeout = ", " }", "limits.shutdown_timeout", "0s and 1h", "0", "\"1h\"",
     "-1", "-1s", "\"1h1s\"", "1h1s"},
    {"limits = { retention = ", " }", "limits.retention", "0s and 3650d", "0", "\"3650d\"", "-1",
     "-1s", "\"3651d\"", "3651d"},
    {"sandbox = { memory = ", " }", "sandbox.memory", "1MB and 64GB, or 0 for no limit", "\"1MB\"",
     "\"64GB\"", "\"1023KB\"", "1023KB", "\"65GB\"", "65GB"},
    {"sandbox = { cpu_slice = ", " }", "sandbox.cpu_slice", "0s and 1m", "0", "\"1m\"", "-0.5",
     "-500ms", "\"61s\"", "1m1s"},
    {"browser = { browsers = ", " }", "browser.browsers", "1 and 64", "1", "64", "0", "0", "65",
     "65"},
    {"browser = { max_pages = ", " }", "browser.max_pages", "1 and 1024", "2", "1024", "0", "0",
     "1025", "1025"},
    {"browser = { reserve = { critical = ", " } }", "browser.reserve.critical", "0 and 1024", "0",
     NULL, "-1", "-1", "1025", "1025"},
    {"browser = { reserve = { high = ", " } }", "browser.reserve.high", "0 and 1024", "0", NULL,
     "-1", "-1", "1025", "1025"},
    {"browser = { burst = ", " }", "browser.burst", "0 and 1024", "0", "1024", "-1", "-1", "1025",
     "1025"},
    {"browser = { idle_timeout = ", " }", "browser.idle_timeout", "0s and 1d", "0", "\"1d\"", "-1",
     "-1s", "\"25h\"", "1d1h"},
    {"browser = { max_uses = ", " }", "browser.max_uses", "1 and 1000000", "1", "1000000", "0", "0",
     "1000001", "1000001"},
    {"browser = { acquire_timeout = ", " }", "browser.acquire_timeout", "0s and 1h", "0", "\"1h\"",
     "-1", "-1s", "\"2h\"", "2h"},
    {"browser = { heartbeat = ", " }", "browser.heartbeat", "0s and 1h", "0", "\"1h\"", "-1", "-1s",
     "\"61m\"", "1h1m"},
    {"browser = { max_pages = 1024, warm = ", " }", "browser.warm", "0 and 1024", "0", "1024", "-1",
     "-1", "1025", "1025"},
    {"browser = { pages_per_context = ", " }", "browser.pages_per_context", "1 and 1024", "1",
     "1024", "0", "0", "1025", "1025"},
    {"defaults = { timeout = ", " }", "defaults.timeout", "1ms and 7d", "0.001", "\"7d\"", "0.0005",
     "0.5ms", "\"8d\"", "8d"},
    {"defaults = { retry = { attempts = ", " } }", "defaults.retry.attempts", "1 and 1000", "1",
     "1000", "0", "0", "1001", "1001"},
    {"defaults = { retry = { max = \"1h\", base = ", " } }", "defaults.retry.base", "0s and 1h",
     "0", "\"1h\"", "-1", "-1s", "\"61m\"", "1h1m"},
    {"defaults = { retry = { base = 0, max = ", " } }", "defaults.retry.max", "0s and 1d", "0",
     "\"1d\"", "-1", "-1s", "\"2d\"", "2d"},
    {"defaults = { retry_budget = { percent = ", " } }", "defaults.retry_budget.percent",
     "0 and 1000", "0", "1000", "-1", "-1", "1001", "1001"},
    {"defaults = { retry_budget = { floor = ", " } }", "defaults.retry_budget.floor",
     "0 and 100000", "0", "100000", "-1", "-1", "100001", "100001"},
    {"defaults = { retry_budget = { window = ", " } }", "defaults.retry_budget.window", "1s and 1m",
     "1", "\"1m\"", "0.999", "999ms", "61", "1m1s"},
    {"breakers = { s = { failures = ", " } }", "breakers.s.failures", "1 and 1000000", "1",
     "1000000", "0", "0", "1000001", "1000001"},
    {"breakers = { s = { cooldown = ", " } }", "breakers.s.cooldown", "1ms and 7d", "0.001",
     "\"7d\"", "0", "0s", "\"7d1s\"", "7d1s"},
    {"breakers = { s = { window_calls = ", " } }", "breakers.s.window_calls", "0 and 1024", "0",
     "1024", "-1", "-1", "1025", "1025"},
    {"breakers = { s = { window_time = ", " } }", "breakers.s.window_time",
     "1s and 1h, or 0 for off", "1", "\"1h\"", "0.5", "500ms", "3601", "1h1s"},
    {"breakers = { s = { min_calls = ", " } }", "breakers.s.min_calls", "1 and 1000000", "1",
     "1000000", "0", "0", "1000001", "1000001"},
    {"breakers = { s = { failure_rate = ", " } }", "breakers.s.failure_rate", "1 and 100", "1",
     "100", "0", "0", "101", "101"},
    {"breakers = { s = { slow_call = ", " } }", "breakers.s.slow_call", "0s and 1h", "0", "\"1h\"",
     "-1", "-1s", "\"1h1s\"", "1h1s"},
    {"breakers = { s = { probes = ", " } }", "breakers.s.probes", "1 and 1000", "1", "1000", "0",
     "0", "1001", "1001"},
};

TEST(every_key_with_a_range_refuses_both_ends_and_accepts_them) {
    tmp_init();
    for (size_t i = 0; i < sizeof range_cases / sizeof range_cases[0]; i++) {
        const range_case_t *rc = &range_cases[i];
        const char *ok[2] = {rc->lo_ok, rc->hi_ok};
        const char *bad[2][2] = {{rc->below, rc->below_shown}, {rc->above, rc->above_shown}};
        char text[512], want[512], err[1024];
        conf_t c;
        for (int end = 0; end < 2; end++) {
            snprintf(text, sizeof text, "%s%s%s\n", rc->pre, bad[end][0], rc->post);
            snprintf(want, sizeof want, "1: %s: must be between %s, got %s", rc->key, rc->range,
                     bad[end][1]);
            CHECK_CONF_ERROR(text, want);
            if (!ok[end]) continue;
            snprintf(text, sizeof text, "%s%s%s\n", rc->pre, ok[end], rc->post);
            CHECK_INT(load_text(&c, text, err, sizeof err), 0);
            CHECK_STR(err, "");
            conf_free(&c);
        }
    }
    tmp_done();
}

/* Whole-second keys are refused with a fraction, not truncated; keys that only make
 * sense together are refused together, not silently fixed up. */
TEST(fractions_and_contradicting_keys_are_errors_not_fix_ups) {
    tmp_init();
    CHECK_CONF_ERROR(
        "defaults = { retry_budget = { window = 1.5 } }\n",
        "1: defaults.retry_budget.window: must be a whole number of seconds, got 1.5s");
    CHECK_CONF_ERROR("breakers = { s = { window_time = \"2.5s\" } }\n",
                     "1: breakers.s.window_time: must be a whole number of seconds, got 2.5s");
    CHECK_CONF_ERROR("breakers = {\n  s = { window_calls = 20, window_time = 60 } }\n",
                     "2: breakers.s: window_calls and window_time cannot both be set");
    CHECK_CONF_ERROR("defaults = {\n  retry = { base = \"10s\",\n  max = \"5s\" } }\n",
                     "3: defaults.retry.max (5s) is less than base (10s)");
    tmp_done();
}

/* A base alone past the default max takes max with it: the file said nothing of max. */
TEST(a_retry_base_alone_past_the_default_max_raises_max) {
    conf_t c;
    char err[512];
    tmp_init();
    CHECK_INT(load_text(&c, "defaults = { retry = { base = \"1m\" } }\n", err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_NUM(c.default_retry.base, 60);
    CHECK_NUM(c.default_retry.max, 60);
    CHECK_INT(load_text(&c, "defaults = { retry = { base = \"1s\" } }\n", err, sizeof err), 0);
    CHECK_NUM(c.default_retry.max, 30);
    tmp_done();
}

TEST(pages_per_context_is_an_integer_from_1) {
    tmp_init();
    CHECK_CONF_ERROR("browser = {\n"
                     "  max_pages = 4,\n"
                     "  pages_per_context = 0,\n"
                     "}\n",
                     "3: browser.pages_per_context: must be between 1 and 1024, got 0");
    CHECK_CONF_ERROR("browser = { pages_per_context = -2 }\n",
                     "1: browser.pages_per_context: must be between 1 and 1024, got -2");
    CHECK_CONF_ERROR("browser = { pages_per_context = 1.5 }\n",
                     "1: browser.pages_per_context: expected an integer, got 1.5");
    CHECK_CONF_ERROR("browser = { pages_per_context = \"all\" }\n",
                     "1: browser.pages_per_context: expected an integer, got string");
    CHECK_CONF_ERROR("browser = { pages_per_context = 1025 }\n",
                     "1: browser.pages_per_context: must be between 1 and 1024, got 1025");
    tmp_done();
}

TEST(warm_pages_must_fit_in_max_pages) {
    tmp_init();
    CHECK_CONF_ERROR("browser = {\n"
                     "  max_pages = 2,\n"
                     "  warm = 3,\n"
                     "}\n",
                     "3: browser.warm (3) is more than max_pages (2)");
    tmp_done();
}

TEST(reservations_must_leave_a_page_for_other_work) {
    tmp_init();
    CHECK_CONF_ERROR("browser = {\n"
                     "  max_pages = 2,\n"
                     "  reserve = { critical = 2, high = 1 },\n"
                     "}\n",
                     "3: browser.reserve: critical + high (3) leaves none of max_pages (2) "
                     "for medium and low work");
    /* the default reserve.critical = 1 with one page starves everything else */
    CHECK_CONF_ERROR("browser = { max_pages = 1 }\n",
                     "1: browser.reserve: critical + high (1) leaves none of max_pages (1) "
                     "for medium and low work");
    conf_t c;
    char err[512];
    CHECK_INT(
        load_text(&c, "browser = { max_pages = 3, reserve = { high = 1 } }\n", err, sizeof err), 0);
    conf_free(&c);
    CHECK_INT(
        load_text(&c, "browser = { max_pages = 1, reserve = { critical = 0 } }\n", err, sizeof err),
        0);
    conf_free(&c);
    tmp_done();
}

TEST(strings_too_long_for_their_buffer_are_errors_not_truncated) {
    char text[6000];
    tmp_init();
    snprintf(text, sizeof text, "\nhttp = { token = \"%0300d\" }\n", 0);
    CHECK_CONF_ERROR(text, "2: http.token: too long (at most 255 bytes)");
    memset(text, 0, sizeof text);
    snprintf(text, sizeof text, "scripts = \"/%04200d\"\n", 0);
    CHECK_CONF_ERROR(text, "1: scripts: path too long (at most 4095 bytes once resolved)");
    snprintf(text, sizeof text, "breakers = { [\"%070d\"] = {} }\n", 0);
    CHECK_CONF_ERROR(text, "1: breakers.0000000000000000000000000000000000000000000000000000000"
                           "000000000000000: a breaker name must be 1 to 63 bytes without NUL");
    CHECK_CONF_ERROR("scripts = \"\"\n", "1: scripts: must not be empty");
    CHECK_CONF_ERROR("scripts = \"a\\0b\"\n", "1: scripts: must not contain a NUL byte");
    tmp_done();
}

TEST(lists_hold_nonempty_strings_within_bounds) {
    char text[2048];
    size_t n;
    tmp_init();
    CHECK_CONF_ERROR("browser = {\n  args = { \"--a\", 5 } }\n",
                     "2: browser.args[2]: expected a string, got number");
    CHECK_CONF_ERROR("browser = { args = { \"--a\", \"\" } }\n",
                     "1: browser.args[2]: must be a non-empty string without NUL bytes");
    CHECK_CONF_ERROR("browser = { args = { x = \"--a\" } }\n",
                     "1: browser.args: expected a list of strings (keys 1, 2, 3...)");
    CHECK_CONF_ERROR("browser = { endpoints = { \"10.0.0.5:9222\" } }\n",
                     "1: browser.endpoints[1]: expected a ws://, wss://, http:// or https:// "
                     "URL, got '10.0.0.5:9222'");
    n = (size_t)snprintf(text, sizeof text, "browser = { args = {");
    for (int i = 0; i < CONF_MAX_LIST + 1; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, " \"--f%d\",", i);
    snprintf(text + n, sizeof text - n, " } }\n");
    CHECK_CONF_ERROR(text, "1: browser.args: at most 32 entries, got 33");
    tmp_done();
}

TEST(http_listen_must_be_host_and_port) {
    tmp_init();
    CHECK_CONF_ERROR("http = { listen = \"8080\" }\n",
                     "1: http.listen: expected HOST:PORT, got '8080'");
    CHECK_CONF_ERROR("http = { listen = \"localhost:99999\" }\n",
                     "1: http.listen: expected HOST:PORT, got 'localhost:99999'");
    conf_t c;
    char err[512];
    CHECK_INT(load_text(&c, "http = { listen = \"[::1]:0\" }\n", err, sizeof err), 0);
    CHECK_STR(c.http_listen, "[::1]:0");
    tmp_done();
}

TEST(syntax_error_keeps_luas_message_and_line) {
    tmp_init();
    CHECK_CONF_ERROR("scripts = \"scripts\"\n\ndatabase = = 1\n", "3: unexpected symbol near '='");
    CHECK_CONF_ERROR("log = {\n  level = \"info\"\n",
                     "3: '}' expected (to close '{' at line 1) near <eof>");
    tmp_done();
}

TEST(runtime_error_such_as_calling_a_function_has_its_line) {
    tmp_init();
    CHECK_CONF_ERROR("scripts = \"scripts\"\nprint(\"hello\")\n",
                     "2: attempt to call a nil value (global 'print')");
    CHECK_CONF_ERROR("\n\nlocal n = #os\n",
                     "3: attempt to get length of a nil value (global 'os')");
    CHECK_CONF_ERROR("scripts = (\"x\"):rep(2)\n",
                     "1: attempt to index a string value (constant 'x')");
    tmp_done();
}

TEST(endless_loop_is_stopped_with_its_line) {
    tmp_init();
    CHECK_CONF_ERROR("scripts = \"scripts\"\n\nwhile true do end\n",
                     "3: too many instructions (an endless loop?)");
    tmp_done();
}

TEST(huge_allocation_is_refused_with_its_line) {
    tmp_init();
    CHECK_CONF_ERROR("local s = \"x\"\n"
                     "for i = 1, 40 do\n"
                     "  s = s .. s\n"
                     "end\n",
                     "3: needs too much memory (more than 16 MB)");
    tmp_done();
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
    return fwrite(p, 1, sz, ud) == sz ? 0 : 1;
}

TEST(precompiled_chunk_is_refused) {
    tmp_init();
    lua_State *L = luaL_newstate();
    CHECK(L != NULL);
    CHECK_INT(luaL_loadstring(L, "scripts = 'scripts'"), LUA_OK);
    FILE *f = fopen(conf_path, "wb");
    CHECK(f != NULL);
    CHECK_INT(lua_dump(L, dump_writer, f, 0), 0);
    fclose(f);
    lua_close(L);

    conf_t c;
    char err[512], want[700];
    conf_defaults(&c);
    CHECK_INT(conf_load(&c, conf_path, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:1: precompiled chunks are not accepted (Lua source text only)",
             conf_path);
    CHECK_STR(err, want);
    conf_free(&c);
    tmp_done();
}

TEST(missing_file_is_enoent) {
    conf_t c;
    char err[512], want[700];
    tmp_init();
    conf_defaults(&c);
    CHECK_INT(conf_load(&c, conf_path, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", conf_path);
    CHECK_STR(err, want);
    CHECK_STR(c.path, "");
    CHECK_STR(c.scripts, "scripts");
    /* a directory is not a config file either */
    CHECK_INT(conf_load(&c, tmp_dir, err, sizeof err), -EISDIR);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", tmp_dir);
    CHECK_STR(err, want);
    tmp_done();
}

TEST(first_error_in_the_file_wins) {
    tmp_init();
    /* whatever order Lua's table traversal takes, the earliest line is reported */
    CHECK_CONF_ERROR("scripts = \"scripts\"\n"
                     "log = { level = \"loud\" }\n"
                     "limits = { shutdown_timeout = \"soon\" }\n"
                     "zzz = 1\n"
                     "aaa = 2\n",
                     "2: log.level: expected one of debug, info, warn, error");
    CHECK_CONF_ERROR("browser = {\n"
                     "  max_uses = 0,\n"
                     "  reserve = { critical = \"one\" },\n"
                     "  args = { 1 },\n"
                     "}\n",
                     "2: browser.max_uses: must be between 1 and 1000000, got 0");
    /* two on one line: the leftmost */
    CHECK_CONF_ERROR("log = { level = 1, format = 2 }\n",
                     "1: log.level: expected a string, got number");
    tmp_done();
}

TEST(keys_in_comments_and_strings_do_not_move_the_line) {
    tmp_init();
    CHECK_CONF_ERROR("browser = {\n"
                     "  -- max_pages = 4,\n"
                     "  --[[ max_pages = 5,\n"
                     "       max_pages = 6 ]]\n"
                     "  args = { \"max_pages = 7\", [[\n"
                     "max_pages = 8]] },\n"
                     "  max_pages = \"four\",\n"
                     "}\n",
                     "7: browser.max_pages: expected an integer, got string");
    tmp_done();
}

TEST(long_paths_appear_whole_in_lua_messages) {
    char dir[600], path[700], want[900];
    conf_t c;
    tmp_init();
    /* longer than LUA_IDSIZE, which Lua would cut to "...tail" */
    snprintf(dir, sizeof dir, "%s/a-directory-with-a-rather-long-name-for-the-config", tmp_dir);
    CHECK_INT(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/engine.conf", dir);
    const char *text = "\nscripts = nil + 1\n";
    write_file(path, text, strlen(text));
    conf_defaults(&c);
    char err[1024];
    CHECK_INT(conf_load(&c, path, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:2: attempt to perform arithmetic on a nil value", path);
    CHECK_STR(err, want);
    text = "log = {\n\n";
    write_file(path, text, strlen(text));
    CHECK_INT(conf_load(&c, path, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:3: unexpected symbol near <eof>", path);
    CHECK_STR(err, want);
    tmp_done();
}

TEST(message_stays_on_one_line) {
    tmp_init();
    CHECK_CONF_ERROR("limits = { shutdown_timeout = \"5\\nsec\" }\n",
                     "1: limits.shutdown_timeout: bad duration '5\\nsec'");
    CHECK_CONF_ERROR("x = { [\"a\\tb\"] = 1 }\n", "1: unknown key 'x'");
    CHECK_CONF_ERROR("log = { [\"a\\tb\"] = 1 }\n", "1: unknown key 'log.a\\tb'");
    tmp_done();
}

/* ---- ownership ---- */

TEST(failed_load_leaves_the_conf_untouched) {
    conf_t c, before;
    char err[512];
    tmp_init();
    CHECK_INT(load_text(&c,
                        "browser = { args = { \"--a\", \"--b\" },\n"
                        "            endpoints = { \"ws://h:1/x\" } }\n"
                        "breakers = { one = {} }\n",
                        err, sizeof err),
              0);
    memcpy(&before, &c, sizeof c);
    /* the new lists are read, then a later line fails: they must be freed, not kept */
    const char *bad = "browser = { args = { \"--c\" }, endpoints = { \"ws://h:2/y\" } }\n"
                      "breakers = { two = {} }\n"
                      "log = { level = \"loud\" }\n";
    write_file(conf_path, bad, strlen(bad));
    CHECK_INT(conf_load(&c, conf_path, err, sizeof err), -EINVAL);
    CHECK(memcmp(&before, &c, sizeof c) == 0);
    CHECK_STR(c.browser.args[1], "--b");
    CHECK_STR(c.breakers[0].name, "one");
    conf_free(&c);
    tmp_done();
}

TEST(conf_free_releases_lists_across_reloads) {
    conf_t c;
    char err[512];
    const char *one = "browser = { args = { \"--a\", \"--b\" },\n"
                      "            endpoints = { \"ws://h:1/x\" } }\n";
    const char *two = "browser = { args = { \"--c\" } }\n";
    tmp_init();
    CHECK_INT(load_text(&c, one, err, sizeof err), 0);
    /* loading over a loaded conf replaces args (the old strings are freed) and keeps the
     * endpoints it does not mention; LeakSanitizer checks the rest at exit */
    write_file(conf_path, two, strlen(two));
    CHECK_INT(conf_load(&c, conf_path, err, sizeof err), 0);
    CHECK_INT(c.browser.nargs, 1);
    CHECK_STR(c.browser.args[0], "--c");
    CHECK(c.browser.args[1] == NULL);
    CHECK_INT(c.browser.nendpoints, 1);
    CHECK_STR(c.browser.endpoints[0], "ws://h:1/x");
    write_file(conf_path, "", 0);
    CHECK_INT(conf_load(&c, conf_path, err, sizeof err), 0);
    CHECK_INT(c.browser.nargs, 1);
    conf_free(&c);
    CHECK_INT(c.browser.nargs, 0);
    CHECK_INT(c.browser.nendpoints, 0);
    conf_free(&c); /* twice is harmless */

    /* the full file, loaded and freed many times */
    for (int i = 0; i < 20; i++) {
        CHECK_INT(load_text(&c, full_file, err, sizeof err), 0);
        conf_free(&c);
    }
    tmp_done();
}

TEST(http_client_keys_have_ranges_and_a_proxy_url) {
    conf_t c;
    char err[512] = "";
    tmp_init();
    CHECK_INT(load_text(&c, "", err, sizeof err), 0);
    CHECK_INT(c.http_client.max_connections, 64);
    CHECK_INT(c.http_client.max_per_host, 8);
    CHECK_NUM(c.http_client.timeout, 30);
    CHECK_INT(c.http_client.max_bytes, 10 << 20);
    CHECK_STR(c.http_client.proxy, "");
    conf_free(&c);
    CHECK_INT(
        load_text(&c, "http_client = { proxy = \"socks5h://127.0.0.1:1080\" }\n", err, sizeof err),
        0);
    CHECK_STR(c.http_client.proxy, "socks5h://127.0.0.1:1080");
    CHECK_STR(c.http_client.ca_file, "");
    conf_free(&c);
    char want[600];
    CHECK_INT(load_text(&c, "http_client = { ca_file = \"certs/ca.pem\" }\n", err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/certs/ca.pem", tmp_dir);
    CHECK_STR(c.http_client.ca_file, want); /* beside engine.conf */
    conf_free(&c);
    CHECK_INT(load_text(&c, "http_client = { ca_file = \"/etc/ca.pem\" }\n", err, sizeof err), 0);
    CHECK_STR(c.http_client.ca_file, "/etc/ca.pem");
    conf_free(&c);
    CHECK_CONF_ERROR("http_client = { max_connections = 0 }\n",
                     "1: http_client.max_connections: must be between 1 and 10000, got 0");
    CHECK_CONF_ERROR("http_client = {\n  max_per_host = 10001 }\n",
                     "2: http_client.max_per_host: must be between 1 and 10000, got 10001");
    CHECK_CONF_ERROR("http_client = { max_connections = 4,\n max_per_host = 5 }\n",
                     "2: http_client.max_per_host (5) is more than max_connections (4)");
    CHECK_CONF_ERROR("http_client = { timeout = 0 }\n",
                     "1: http_client.timeout: must be between 1ms and 1h, got 0s");
    CHECK_CONF_ERROR("http_client = { timeout = \"2h\" }\n",
                     "1: http_client.timeout: must be between 1ms and 1h, got 2h");
    CHECK_CONF_ERROR("http_client = { max_bytes = \"100B\" }\n",
                     "1: http_client.max_bytes: must be between 1KB and 1GB, got 100B");
    CHECK_CONF_ERROR("http_client = { proxy = \"ftp://x:21\" }\n",
                     "1: http_client.proxy: expected \"\" or a proxy URL (http://, https://, "
                     "socks4://, socks5:// and a host), got 'ftp://x:21'");
    CHECK_CONF_ERROR("http_client = { proxy = 3128 }\n",
                     "1: http_client.proxy: expected a string, got number");
    CHECK_CONF_ERROR("http_client = { max_conns = 3 }\n", "1: unknown key 'http_client.max_conns'");
    tmp_done();
}

TEST(secrets_are_read_and_their_bad_entries_are_errors) {
    char err[512];
    conf_t c;
    tmp_init();
    CHECK_INT(load_text(&c, "secrets = {\n  b = { env = \"B\" },\n  a = { file = \"s/a\" } }\n",
                        err, sizeof err),
              0);
    CHECK_INT(c.nsecrets, 2);
    CHECK_STR(c.secrets[0].name, "a"); /* sorted */
    CHECK_INT(c.secrets[0].line, 3);
    CHECK_STR(c.secrets[1].env, "B");
    conf_free(&c);
    CHECK_CONF_ERROR("secrets = 5\n", "1: secrets: expected a table, got number");
    CHECK_CONF_ERROR("secrets = { a = \"X\" }\n",
                     "1: secrets.a: expected a table ({ env = \"VAR\" } or { file = \"path\" }), "
                     "got string");
    CHECK_CONF_ERROR("secrets = { a = {} }\n",
                     "1: secrets.a: give exactly one of env = \"VAR\" and file = \"path\"");
    CHECK_CONF_ERROR("secrets = { a = { env = \"A\", file = \"f\" } }\n",
                     "1: secrets.a: give exactly one of env = \"VAR\" and file = \"path\"");
    CHECK_CONF_ERROR("secrets = { a = { token = \"x\" } }\n", "1: unknown key 'secrets.a.token'");
    CHECK_CONF_ERROR("secrets = { [\"9x\"] = { env = \"A\" } }\n",
                     "1: secrets.9x: a secret's name is 1 to 63 letters, digits, '_', '.' or '-', "
                     "starting with a letter or '_'");
    tmp_done();
}
