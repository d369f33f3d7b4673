/* store.c — the sqlite store behind store.h: one connection in WAL mode, the
 * ordered list of schema migrations, the prepared statements (kept and reused)
 * and the batched write transaction that the first write opens and
 * store_flush() commits. */
#include "store.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/secret.h"

/* How long a statement waits on another connection's lock before it fails.
 * Short: the only expected contender is a second baton, which is an error. */
static const int BUSY_TIMEOUT_MS = 250;

/* Migration i brings PRAGMA user_version from i to i + 1, inside the open
 * transaction. Append new versions; never edit a released one. */
static const char *const migrations[] = {
    /* v1: run rows (one per attempt), the key/value store, per-job state. */
    "CREATE TABLE runs ("
    " id           INTEGER PRIMARY KEY,"
    " run_id       INTEGER NOT NULL,"
    " job          TEXT NOT NULL,"
    " attempt      INTEGER NOT NULL,"
    " scheduled_at REAL,"
    " started_at   REAL,"
    " ended_at     REAL,"
    " status       TEXT NOT NULL,"
    " error_kind   TEXT,"
    " error        TEXT,"
    " result       TEXT);"
    "CREATE INDEX runs_job_id ON runs(job, id);"
    "CREATE INDEX runs_ended_at ON runs(ended_at);"
    "CREATE TABLE kv ("
    " key   TEXT PRIMARY KEY,"
    " value TEXT NOT NULL);"
    "CREATE TABLE job_state ("
    " job        TEXT PRIMARY KEY,"
    " has_offset INTEGER NOT NULL DEFAULT 0,"
    " \"offset\"   REAL NOT NULL DEFAULT 0,"
    " every      REAL NOT NULL DEFAULT 0,"
    " last_ok    REAL,"
    " last_fail  REAL,"
    " last_due   REAL,"
    " paused     INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
    /* v2: circuit breaker state, so an open breaker stays open across a restart. */
    "CREATE TABLE breakers ("
    " name      TEXT PRIMARY KEY,"
    " state     TEXT NOT NULL,"
    " opened_at REAL,"
    " failures  INTEGER NOT NULL DEFAULT 0,"
    " changed_at REAL) WITHOUT ROWID;",
    /* v3: cookies of named browser sessions, restored into any new page's browser context. */
    "CREATE TABLE sessions ("
    " name     TEXT PRIMARY KEY,"
    " cookies  TEXT NOT NULL,"
    " saved_at REAL) WITHOUT ROWID;",
    /* v4: the store's own counters: next_run_id, kept by pruning, so run ids
     * never start again at 1 when every run row has been pruned. */
    "CREATE TABLE meta ("
    " key   TEXT PRIMARY KEY,"
    " value INTEGER NOT NULL) WITHOUT ROWID;",
    /* v5: runs in flight, one row per start while it runs, committed when an
     * attempt begins; a row left at open is a run the engine died during. */
    "CREATE TABLE inflight ("
    " run_id       INTEGER PRIMARY KEY,"
    " job          TEXT NOT NULL,"
    " attempt      INTEGER NOT NULL,"
    " scheduled_at REAL,"
    " started_at   REAL);",
};

/* Run ids are reserved this many at a time: the high-water mark is committed
 * before an id past it is handed out, so a crash skips ids, never repeats one.
 * A clean close gives the unused ones back. */
static const int64_t RUN_ID_BLOCK = 100;

/* What a run left in flight by a dead engine becomes at the next open. */
static const char RECOVER_SQL[] =
    "INSERT INTO runs (run_id, job, attempt, scheduled_at, started_at, ended_at, status, "
    "error_kind, error) SELECT run_id, job, attempt, scheduled_at, started_at, %.6f, "
    "'" STORE_CRASHED_STATUS "', '" STORE_CRASHED_KIND "', "
    "'the engine stopped while this run was in flight' FROM inflight ORDER BY run_id;"
    "DELETE FROM inflight;";

/* The next run id: past every run row, and past what pruning deleted. */
static const char NEXT_RUN_ID[] =
    "SELECT max(coalesce((SELECT max(run_id) FROM runs), 0) + 1,"
    " coalesce((SELECT value FROM meta WHERE key = 'next_run_id'), 1))";

enum { SCHEMA_VERSION = (int)(sizeof migrations / sizeof migrations[0]) };

/* The statements the store keeps, prepared on first use. */
typedef enum {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_RUN_ADD,
    STMT_RUNS_ALL,
    STMT_RUNS_JOB,
    STMT_RUN_SUMMARIES,
    STMT_RUN_ERRORS,
    STMT_RUN_ATTEMPTS,
    STMT_PRUNE_ENDED,
    STMT_PRUNE_UNENDED,
    STMT_KV_GET,
    STMT_KV_SET,
    STMT_KV_DELETE,
    STMT_JOB_GET,
    STMT_JOB_PUT,
    STMT_BREAKER_GET,
    STMT_BREAKER_PUT,
    STMT_SESSION_GET,
    STMT_SESSION_PUT,
    STMT_INFLIGHT_PUT,
    STMT_INFLIGHT_DELETE,
    STMT_RESERVE,
    STMT_ROLLBACK,
    STMT_COUNT
} stmt_id_t;

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_RUN_ADD] = "INSERT INTO runs (run_id, job, attempt, scheduled_at, started_at, "
                     "ended_at, status, error_kind, error, result) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [STMT_RUNS_ALL] = "SELECT run_id, job, attempt, scheduled_at, started_at, ended_at, status, "
                      "error_kind, error, result FROM runs ORDER BY id DESC LIMIT ?2",
    [STMT_RUNS_JOB] = "SELECT run_id, job, attempt, scheduled_at, started_at, ended_at, status, "
                      "error_kind, error, result FROM runs WHERE job = ?1 "
                      "ORDER BY id DESC LIMIT ?2",
    /* sqlite's bare columns take their values from the row holding max(id),
     * the start's last attempt. */
    [STMT_RUN_SUMMARIES] = "SELECT run_id, job, count(*), min(started_at), max(ended_at), status, "
                           "error_kind, max(id) FROM runs WHERE run_id IN (SELECT run_id FROM "
                           "runs WHERE ended_at >= ?1) GROUP BY run_id",
    [STMT_RUN_ERRORS] = "SELECT run_id, job, attempt, scheduled_at, started_at, ended_at, status, "
                        "error_kind, error, result FROM runs WHERE status IN ('failed', "
                        "'fallback') ORDER BY id DESC LIMIT ?2",
    [STMT_RUN_ATTEMPTS] = "SELECT run_id, job, attempt, scheduled_at, started_at, ended_at, "
                          "status, error_kind, error, result FROM runs WHERE run_id = ?1 "
                          "ORDER BY id LIMIT ?2",
    /* Two deletes so that each can use the ended_at index. */
    [STMT_PRUNE_ENDED] = "DELETE FROM runs WHERE ended_at < ?1",
    [STMT_PRUNE_UNENDED] = "DELETE FROM runs WHERE ended_at IS NULL AND scheduled_at < ?1",
    [STMT_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
    /* Writes nothing when the value is not JSON; the caller checks changes(). */
    [STMT_KV_SET] = "INSERT INTO kv (key, value) SELECT ?1, ?2 WHERE json_valid(?2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [STMT_KV_DELETE] = "DELETE FROM kv WHERE key = ?1",
    [STMT_JOB_GET] = "SELECT has_offset, \"offset\", every, last_ok, last_fail, last_due, paused "
                     "FROM job_state WHERE job = ?1",
    /* An upsert, not INSERT OR REPLACE, so columns a later version adds keep their values. */
    [STMT_JOB_PUT] = "INSERT INTO job_state (job, has_offset, \"offset\", every, last_ok, "
                     "last_fail, last_due, paused) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                     "ON CONFLICT (job) DO UPDATE SET has_offset = excluded.has_offset, "
                     "\"offset\" = excluded.\"offset\", every = excluded.every, "
                     "last_ok = excluded.last_ok, last_fail = excluded.last_fail, "
                     "last_due = excluded.last_due, paused = excluded.paused",
    [STMT_BREAKER_GET] = "SELECT state, opened_at, failures, changed_at FROM breakers "
                         "WHERE name = ?1",
    [STMT_BREAKER_PUT] = "INSERT INTO breakers (name, state, opened_at, failures, changed_at) "
                         "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET "
                         "state = excluded.state, opened_at = excluded.opened_at, "
                         "failures = excluded.failures, changed_at = excluded.changed_at",
    [STMT_SESSION_GET] = "SELECT cookies FROM sessions WHERE name = ?1",
    [STMT_SESSION_PUT] = "INSERT INTO sessions (name, cookies, saved_at) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT (name) DO UPDATE SET cookies = excluded.cookies, "
                         "saved_at = excluded.saved_at",
    [STMT_INFLIGHT_PUT] = "INSERT INTO inflight (run_id, job, attempt, scheduled_at, started_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (run_id) DO UPDATE SET "
                          "attempt = excluded.attempt, started_at = excluded.started_at",
    [STMT_INFLIGHT_DELETE] = "DELETE FROM inflight WHERE run_id = ?1",
    /* ?2 = 1 lowers the mark (a clean close), otherwise it only rises. */
    [STMT_RESERVE] = "INSERT INTO meta (key, value) VALUES ('next_run_id', ?1) "
                     "ON CONFLICT (key) DO UPDATE SET value = "
                     "CASE WHEN ?2 THEN excluded.value ELSE max(value, excluded.value) END",
    [STMT_ROLLBACK] = "ROLLBACK",
};

struct store {
    sqlite3 *db;
    int read_only;
    int memory;
    int64_t next_run_id;
    int64_t reserved;  /* ids below this are committed as used (meta.next_run_id) */
    int64_t recovered; /* in-flight runs recorded as crashed at open */
    char path[4096];
    dev_t dev; /* the database file's identity at open */
    ino_t ino;
    char write_error[512]; /* why the last write could not be committed; "" when it could */
    uint64_t write_errors;
    sqlite3_stmt *stmts[STMT_COUNT];
    char errmsg[512];
    void (*on_run)(void *ud, const store_run_t *r);
    void *on_run_ud;
};

/* ---- errors ---- */

/* A negative errno-style code for a sqlite result code. */
static int code_of(int rc) {
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_CANTOPEN:
        return -EACCES;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        return -EINVAL;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_TOOBIG:
        return -E2BIG;
    default:
        return -EIO;
    }
}

static const char LOCKED_HINT[] = "database is locked (is another baton running?)";

/* Sets the store's message from the connection and returns the code for rc. */
static int fail(store_t *s, int rc) {
    if ((rc & 0xff) == SQLITE_BUSY)
        snprintf(s->errmsg, sizeof s->errmsg, "%s", LOCKED_HINT);
    else
        snprintf(s->errmsg, sizeof s->errmsg, "%s",
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return code_of(rc);
}

/* Sets a message of our own and returns code. */
static int failf(store_t *s, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* Up to 60 bytes of a value for a message, kept on one line. */
static const char *excerpt(const char *text, char *buf, size_t len) {
    size_t n = 0;
    for (; text[n] && n + 4 < len && n < 60; n++)
        buf[n] = (unsigned char)text[n] < ' ' ? ' ' : text[n];
    snprintf(buf + n, len - n, "%s", text[n] ? "..." : "");
    return buf;
}

/* ---- statements ---- */

/* Hands out the kept statement id, preparing it on first use. A statement
 * still stepping (store_runs calling back into store_runs) is refused. */
static int stmt_get(store_t *s, stmt_id_t id, sqlite3_stmt **out) {
    if (!s->stmts[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmts[id], NULL);
        if (rc != SQLITE_OK) return fail(s, rc);
    } else if (sqlite3_stmt_busy(s->stmts[id])) {
        return failf(s, -EBUSY, "the store is in use by a store_runs callback");
    }
    *out = s->stmts[id];
    return 0;
}

/* Resets a statement and drops its bindings (strings are bound SQLITE_STATIC). */
static void stmt_done(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Remembers that a write failed, for store_write_error (health). */
static void write_failed(store_t *s) {
    snprintf(s->write_error, sizeof s->write_error, "%s", s->errmsg);
    s->write_errors++;
}

/* Steps a statement that returns no rows (every such statement writes), then
 * resets it. */
static int stmt_exec(store_t *s, sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    int code = rc == SQLITE_DONE ? 0 : fail(s, rc);
    stmt_done(st);
    if (code < 0) write_failed(s);
    return code;
}

/* Every text the store keeps goes through here: a secret's value is stored as
 * its mark (run results, errors, logs, ctx.store values alike). */
static int bind_text(sqlite3_stmt *st, int i, const char *text) {
    if (!text) return sqlite3_bind_null(st, i);
    if (!secret_any()) return sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
    char *copy = NULL;
    size_t n;
    const char *out = secret_redact_or_drop(text, strlen(text), &n, &copy);
    if (!copy)
        return sqlite3_bind_text(st, i, out, (int)n, SQLITE_STATIC); /* text, or the fixed drop */
    return sqlite3_bind_text(st, i, copy, (int)n, free);
}

/* 0 stands for "none" in the public structs and is stored as NULL. */
static int bind_time(sqlite3_stmt *st, int i, double t) {
    return t != 0 ? sqlite3_bind_double(st, i, t) : sqlite3_bind_null(st, i);
}

/* Opens the batch transaction unless one is open already. */
static int begin_write(store_t *s) {
    sqlite3_stmt *st;
    if (s->read_only) return failf(s, -EROFS, "the store is open read-only");
    if (!sqlite3_get_autocommit(s->db)) return 0;
    int code = stmt_get(s, STMT_BEGIN, &st);
    return code < 0 ? code : stmt_exec(s, st);
}

/* ---- open and close ---- */

/* Writes "path: message" to err and returns code. */
static int open_fail(char *err, size_t errlen, const char *path, int code, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (errlen) snprintf(err, errlen, "%s: %s", path, msg);
    return code;
}

/* Says why the file cannot be opened. sqlite's errno is not enough: when it
 * may not create a file it retries read-only and reports that ENOENT. */
static int cannot_open(const char *path, int read_only, int sys, char *err, size_t errlen) {
    struct stat sb;
    char dir[512];
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (stat(path, &sb) < 0) sys = errno;
    if (sys == ENOENT && !read_only) {
        if (stat(dir, &sb) < 0 && errno == ENOENT)
            return open_fail(err, errlen, path, -ENOENT,
                             "cannot create the database: directory %s does not exist", dir);
        if (access(dir, W_OK | X_OK) < 0) sys = errno;
        return open_fail(err, errlen, path, -sys, "cannot create the database in directory %s: %s",
                         dir, strerror(sys));
    }
    if (!sys) sys = EACCES;
    return open_fail(err, errlen, path, -sys, "cannot %s the database: %s",
                     read_only ? "open" : "create or open", strerror(sys));
}

/* Turns a failure of sqlite3_open_v2 or of a statement run while opening into
 * one line that says what is wrong with the file. */
static int open_error(sqlite3 *db, int rc, const char *path, int read_only, char *err,
                      size_t errlen) {
    int sys = db ? sqlite3_system_errno(db) : 0;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return open_fail(err, errlen, path, -EBUSY, "%s", LOCKED_HINT);
    case SQLITE_CANTOPEN:
        return cannot_open(path, read_only, sys, err, errlen);
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return open_fail(err, errlen, path, -EACCES, "cannot write the database: %s",
                         sys ? strerror(sys) : sqlite3_errstr(rc));
    default:
        return open_fail(err, errlen, path, code_of(rc), "%s",
                         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
}

/* Runs a single-row, single-integer query. Reading the schema is also what
 * makes sqlite notice a file that is not a database (it opens lazily). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Reads what the file holds: the schema version and the number of schema
 * objects, then refuses versions this build cannot use. */
static int check_schema(sqlite3 *db, const char *path, int read_only, int *version, char *err,
                        size_t errlen) {
    int64_t objects = 0, v = 0;
    int rc = query_int(db, "SELECT count(*) FROM sqlite_master", &objects);
    if (rc == SQLITE_OK) rc = query_int(db, "PRAGMA user_version", &v);
    if (rc != SQLITE_OK) return open_error(db, rc, path, read_only, err, errlen);
    if (v > SCHEMA_VERSION)
        return open_fail(err, errlen, path, -ENOTSUP,
                         "schema version %lld is newer than this build of baton supports (%d);"
                         " use a newer baton",
                         (long long)v, SCHEMA_VERSION);
    if (v == 0 && objects > 0)
        return open_fail(err, errlen, path, -EINVAL,
                         "not a baton database (it has tables but no baton schema version)");
    if (read_only && v < SCHEMA_VERSION)
        return open_fail(err, errlen, path, -ENOTSUP,
                         "schema version %lld is older than this build's (%d); "
                         "`baton run` migrates it",
                         (long long)v, SCHEMA_VERSION);
    *version = (int)v;
    return 0;
}

/* sqlite3_exec callback: copies the first column of a row into a char[16]. */
static int copy_text(void *buf, int ncols, char **values, char **names) {
    snprintf(buf, 16, "%s", ncols > 0 && values[0] ? values[0] : "");
    return 0;
}

/* Switches to WAL, then, inside one BEGIN IMMEDIATE transaction, applies the
 * missing migrations. The BEGIN doubles as the check that no other process
 * holds the write lock. */
static int migrate(store_t *s, const char *path, char *err, size_t errlen) {
    sqlite3 *db = s->db;
    char sql[64], mode[16] = "", recover[sizeof RECOVER_SQL + 64];
    int version, rc, code;

    rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", copy_text, mode, NULL);
    if (rc == SQLITE_OK && strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        return open_fail(err, errlen, path, -EIO, "cannot switch to WAL mode (mode is %s)", mode);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF", NULL, NULL,
                          NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return open_error(db, rc, path, 0, err, errlen);

    /* Read again under the lock: another process may have migrated meanwhile. */
    code = check_schema(db, path, 0, &version, err, errlen);
    for (; code == 0 && version < SCHEMA_VERSION; version++) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
        rc = sqlite3_exec(db, migrations[version], NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) code = open_error(db, rc, path, 0, err, errlen);
    }
    if (code == 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        snprintf(recover, sizeof recover, RECOVER_SQL, (double)now.tv_sec + now.tv_nsec / 1e9);
        rc = sqlite3_exec(db, recover, NULL, NULL, NULL);
        if (rc == SQLITE_OK) s->recovered = sqlite3_changes(db);
        if (rc == SQLITE_OK) rc = query_int(db, NEXT_RUN_ID, &s->next_run_id);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) code = open_error(db, rc, path, 0, err, errlen);
    }
    if (code < 0 && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return code;
}

/* A read-only store never writes and never migrates; ":memory:" has nothing
 * to protect and is always opened read-write. */
int store_open(store_t **out, const char *path, int read_only, char *err, size_t errlen) {
    store_t *s;
    struct stat sb;
    int code, version, rc;
    int memory = strcmp(path, ":memory:") == 0;

    *out = NULL;
    if (errlen) err[0] = '\0';
    if (memory) read_only = 0;
    if (read_only && stat(path, &sb) < 0 && errno == ENOENT) return -ENOENT;

    s = sqlite3_malloc(sizeof *s);
    if (!s) return open_fail(err, errlen, path, -ENOMEM, "out of memory");
    memset(s, 0, sizeof *s);
    s->read_only = read_only;
    s->next_run_id = 1;

    rc = sqlite3_open_v2(
        path, &s->db, read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
        NULL);
    if (rc != SQLITE_OK) {
        code = open_error(s->db, rc, path, read_only, err, errlen);
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* sqlite quietly opens a file it may not write read-only. */
    if (!read_only && sqlite3_db_readonly(s->db, "main") == 1) {
        code = open_fail(err, errlen, path, -EACCES, "cannot write the database: %s",
                         strerror(EACCES));
        goto fail;
    }
    /* Checked before any write: a file this build must not touch stays as it is. */
    code = check_schema(s->db, path, read_only, &version, err, errlen);
    if (code < 0) goto fail;
    if (read_only) {
        rc = query_int(s->db, NEXT_RUN_ID, &s->next_run_id);
        if (rc != SQLITE_OK) {
            code = open_error(s->db, rc, path, 1, err, errlen);
            goto fail;
        }
    } else {
        code = migrate(s, path, err, errlen);
        if (code < 0) goto fail;
    }
    s->reserved = s->next_run_id;
    s->memory = memory;
    if (!memory && !read_only) {
        if (!realpath(path, s->path)) snprintf(s->path, sizeof s->path, "%s", path);
        if (stat(s->path, &sb) == 0) {
            s->dev = sb.st_dev;
            s->ino = sb.st_ino;
        }
    }
    *out = s;
    return 0;

fail:
    sqlite3_close_v2(s->db);
    sqlite3_free(s);
    return code;
}

/* A failed final commit loses the batch: sqlite rolls it back on close. The
 * engine calls store_flush first to report such a failure. A clean close
 * gives back the reserved run ids it did not use. */
void store_close(store_t *s) {
    sqlite3_stmt *st;
    if (!s) return;
    if (!s->read_only && !s->memory && s->reserved > s->next_run_id && begin_write(s) == 0 &&
        stmt_get(s, STMT_RESERVE, &st) == 0) {
        sqlite3_bind_int64(st, 1, s->next_run_id);
        sqlite3_bind_int(st, 2, 1);
        stmt_exec(s, st);
    }
    store_flush(s);
    for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(s->stmts[i]);
    sqlite3_close_v2(s->db);
    sqlite3_free(s);
}

int store_check(store_t *s) {
    struct stat sb;
    if (!s || s->memory || s->read_only || !s->ino) return 0;
    if (stat(s->path, &sb) < 0) {
        failf(s, -errno, "the database file %s is gone (%s): nothing more can be stored", s->path,
              strerror(errno));
    } else if (sb.st_dev != s->dev || sb.st_ino != s->ino) {
        failf(s, -ESTALE, "the database file %s was replaced by another file", s->path);
    } else if (sb.st_nlink == 0) {
        failf(s, -ENOENT, "the database file %s was deleted", s->path);
    } else if (access(s->path, W_OK) < 0) {
        failf(s, -errno, "the database file %s cannot be written: %s", s->path, strerror(errno));
    } else {
        return 0;
    }
    write_failed(s);
    return -EIO;
}

/* A batch that cannot reach the file is rolled back, so that no read on this
 * connection shows what was never stored. */
int store_flush(store_t *s) {
    sqlite3_stmt *st;
    if (!s || sqlite3_get_autocommit(s->db)) return 0;
    int code = store_check(s);
    if (code == 0) code = stmt_get(s, STMT_COMMIT, &st);
    if (code == 0) code = stmt_exec(s, st);
    if (code == 0) {
        s->write_error[0] = '\0';
        return 0;
    }
    if (!sqlite3_get_autocommit(s->db)) {
        char why[sizeof s->errmsg];
        snprintf(why, sizeof why, "%s", s->errmsg);
        if (stmt_get(s, STMT_ROLLBACK, &st) == 0) {
            sqlite3_step(st);
            stmt_done(st);
        }
        snprintf(s->errmsg, sizeof s->errmsg, "%s", why);
    }
    write_failed(s);
    return code;
}

int store_dirty(const store_t *s) { return s && !sqlite3_get_autocommit(s->db); }

const char *store_errmsg(const store_t *s) { return s ? s->errmsg : "no store"; }

const char *store_write_error(const store_t *s) {
    return s && s->write_error[0] ? s->write_error : NULL;
}

uint64_t store_write_errors(const store_t *s) { return s ? s->write_errors : 0; }

int64_t store_recovered(const store_t *s) { return s ? s->recovered : 0; }

/* ---- runs ---- */

static store_field_t field_int(const char *key, int64_t v) {
    return (store_field_t){.key = key, .kind = STORE_FIELD_INT, .integer = v};
}

static store_field_t field_time(const char *key, double t) {
    return (store_field_t){
        .key = key, .kind = t > 0 ? STORE_FIELD_TIME : STORE_FIELD_NULL, .time = t > 0 ? t : 0};
}

static store_field_t field_text(const char *key, const char *v, store_field_kind_t kind) {
    return (store_field_t){.key = key, .kind = v ? kind : STORE_FIELD_NULL, .text = v};
}

void store_run_fields(const store_run_t *r, store_field_t f[STORE_RUN_FIELDS]) {
    f[0] = field_int("run_id", r->run_id);
    f[1] = field_text("job", r->job, STORE_FIELD_TEXT);
    f[2] = field_int("attempt", r->attempt);
    f[3] = field_time("scheduled_at", r->scheduled_at);
    f[4] = field_time("started_at", r->started_at);
    f[5] = field_time("ended_at", r->ended_at);
    f[6] = field_text("status", r->status, STORE_FIELD_TEXT);
    f[7] = field_text("error_kind", r->error_kind, STORE_FIELD_TEXT);
    f[8] = field_text("error", r->error, STORE_FIELD_TEXT);
    f[9] = field_text("result", r->result, STORE_FIELD_JSON);
}

/* The reservation commits the batch with it; when it cannot, the id is still
 * handed out (ids stay increasing in this process) and the failure is the
 * store's write error. */
int64_t store_run_id_next(store_t *s) {
    sqlite3_stmt *st;
    int64_t id = s->next_run_id++;
    if (s->read_only || s->next_run_id <= s->reserved) return id;
    int64_t mark = id + RUN_ID_BLOCK;
    if (begin_write(s) == 0 && stmt_get(s, STMT_RESERVE, &st) == 0) {
        sqlite3_bind_int64(st, 1, mark);
        sqlite3_bind_int(st, 2, 0);
        if (stmt_exec(s, st) == 0 && store_flush(s) == 0) s->reserved = mark;
    }
    return id;
}

int store_inflight_begin(store_t *s, const store_run_t *r) {
    sqlite3_stmt *st;
    if (!r || !r->job) return failf(s, -EINVAL, "an in-flight run needs a job");
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_INFLIGHT_PUT, &st);
    if (code < 0) return code;
    sqlite3_bind_int64(st, 1, r->run_id);
    bind_text(st, 2, r->job);
    sqlite3_bind_int(st, 3, r->attempt);
    bind_time(st, 4, r->scheduled_at);
    bind_time(st, 5, r->started_at);
    code = stmt_exec(s, st);
    return code < 0 ? code : store_flush(s);
}

int store_inflight_end(store_t *s, int64_t run_id) {
    sqlite3_stmt *st;
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_INFLIGHT_DELETE, &st);
    if (code < 0) return code;
    sqlite3_bind_int64(st, 1, run_id);
    return stmt_exec(s, st);
}

int store_run_add(store_t *s, const store_run_t *r) {
    sqlite3_stmt *st;
    if (!r || !r->job || !r->status) return failf(s, -EINVAL, "a run row needs a job and a status");
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_RUN_ADD, &st);
    if (code < 0) return code;
    int rc = sqlite3_bind_int64(st, 1, r->run_id);
    rc |= bind_text(st, 2, r->job);
    rc |= sqlite3_bind_int(st, 3, r->attempt);
    rc |= bind_time(st, 4, r->scheduled_at);
    rc |= bind_time(st, 5, r->started_at);
    rc |= bind_time(st, 6, r->ended_at);
    rc |= bind_text(st, 7, r->status);
    rc |= bind_text(st, 8, r->error_kind);
    rc |= bind_text(st, 9, r->error);
    rc |= bind_text(st, 10, r->result);
    if (rc != SQLITE_OK) {
        code = fail(s, sqlite3_errcode(s->db));
        stmt_done(st);
        return code;
    }
    code = stmt_exec(s, st);
    if (code == 0 && s->on_run) s->on_run(s->on_run_ud, r);
    return code;
}

void store_on_run(store_t *s, void (*fn)(void *ud, const store_run_t *r), void *ud) {
    s->on_run = fn;
    s->on_run_ud = ud;
}

/* A text column; NULL for SQL NULL. Sets *oom when sqlite could not convert. */
static const char *column_text(sqlite3_stmt *st, int i, int *oom) {
    const char *text = (const char *)sqlite3_column_text(st, i);
    if (!text && sqlite3_column_type(st, i) != SQLITE_NULL) *oom = 1;
    return text;
}

/* Rows of statement id, whose ?1 is job (a name, NULL for none) or run_id
 * (when job is NULL and run_id > 0) and whose ?2 is limit. */
static int runs_query(store_t *s, stmt_id_t id, const char *job, int64_t run_id, int limit,
                      store_run_cb cb, void *ud) {
    sqlite3_stmt *st;
    int code = stmt_get(s, id, &st);
    if (code < 0) return code;
    int rc = job ? bind_text(st, 1, job) : SQLITE_OK;
    if (rc == SQLITE_OK && run_id > 0) rc = sqlite3_bind_int64(st, 1, run_id);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        int oom = 0;
        store_run_t r = {.run_id = sqlite3_column_int64(st, 0),
                         .job = column_text(st, 1, &oom),
                         .attempt = sqlite3_column_int(st, 2),
                         .scheduled_at = sqlite3_column_double(st, 3),
                         .started_at = sqlite3_column_double(st, 4),
                         .ended_at = sqlite3_column_double(st, 5),
                         .status = column_text(st, 6, &oom),
                         .error_kind = column_text(st, 7, &oom),
                         .error = column_text(st, 8, &oom),
                         .result = column_text(st, 9, &oom)};
        if (oom || !r.job || !r.status) {
            code = failf(s, -ENOMEM, "out of memory");
            break;
        }
        if (cb(ud, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (code == 0 && rc != SQLITE_DONE) code = fail(s, rc);
    stmt_done(st);
    return code;
}

int store_runs(store_t *s, const char *job, int limit, store_run_cb cb, void *ud) {
    return runs_query(s, job ? STMT_RUNS_JOB : STMT_RUNS_ALL, job, 0, limit, cb, ud);
}

int store_run_errors(store_t *s, int limit, store_run_cb cb, void *ud) {
    return runs_query(s, STMT_RUN_ERRORS, NULL, 0, limit, cb, ud);
}

int store_run_attempts(store_t *s, int64_t run_id, store_run_cb cb, void *ud) {
    if (run_id <= 0) return 0;
    return runs_query(s, STMT_RUN_ATTEMPTS, NULL, run_id, 0, cb, ud);
}

int store_run_summaries(store_t *s, double since, store_summary_cb cb, void *ud) {
    sqlite3_stmt *st;
    int code = stmt_get(s, STMT_RUN_SUMMARIES, &st);
    if (code < 0) return code;
    int rc = sqlite3_bind_double(st, 1, since);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        int oom = 0;
        store_run_summary_t r = {.run_id = sqlite3_column_int64(st, 0),
                                 .job = column_text(st, 1, &oom),
                                 .attempts = sqlite3_column_int(st, 2),
                                 .started_at = sqlite3_column_double(st, 3),
                                 .ended_at = sqlite3_column_double(st, 4),
                                 .status = column_text(st, 5, &oom),
                                 .error_kind = column_text(st, 6, &oom)};
        if (oom || !r.job || !r.status) {
            code = failf(s, -ENOMEM, "out of memory");
            break;
        }
        if (cb(ud, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (code == 0 && rc != SQLITE_DONE) code = fail(s, rc);
    stmt_done(st);
    return code;
}

int store_prune(store_t *s, double before, int64_t *deleted) {
    sqlite3_stmt *st;
    int64_t n = 0;
    char keep[200];
    int code = begin_write(s);
    /* The rows about to go may hold the highest run id. */
    snprintf(keep, sizeof keep,
             "INSERT INTO meta(key, value) SELECT 'next_run_id', "
             "max(%lld, coalesce(max(run_id), 0) + 1) FROM runs WHERE true "
             "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
             (long long)s->next_run_id);
    if (code == 0) {
        int rc = sqlite3_exec(s->db, keep, NULL, NULL, NULL);
        if (rc != SQLITE_OK) code = fail(s, rc);
    }
    for (int id = STMT_PRUNE_ENDED; code == 0 && id <= STMT_PRUNE_UNENDED; id++) {
        code = stmt_get(s, (stmt_id_t)id, &st);
        if (code < 0) break;
        sqlite3_bind_double(st, 1, before);
        code = stmt_exec(s, st);
        if (code == 0) n += sqlite3_changes(s->db);
    }
    if (deleted) *deleted = n;
    return code;
}

/* ---- key/value ---- */

int store_kv_get(store_t *s, const char *key, char **json) {
    sqlite3_stmt *st;
    *json = NULL;
    if (!key) return failf(s, -EINVAL, "a key is needed");
    int code = stmt_get(s, STMT_KV_GET, &st);
    if (code < 0) return code;
    bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *value = (const char *)sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        *json = value ? malloc(len + 1) : NULL;
        if (*json)
            memcpy(*json, value, len + 1);
        else
            code = failf(s, -ENOMEM, "out of memory");
    } else if (rc != SQLITE_DONE) {
        code = fail(s, rc);
    }
    stmt_done(st);
    return code;
}

int store_kv_set(store_t *s, const char *key, const char *json) {
    sqlite3_stmt *st;
    char shown[72];
    if (!key || !json) return failf(s, -EINVAL, "a key and a value are needed");
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_KV_SET, &st);
    if (code < 0) return code;
    bind_text(st, 1, key);
    bind_text(st, 2, json);
    code = stmt_exec(s, st);
    if (code == 0 && sqlite3_changes(s->db) == 0)
        return failf(s, -EINVAL, "the value is not valid JSON: %s",
                     excerpt(json, shown, sizeof shown));
    return code < 0 ? code : store_flush(s);
}

int store_kv_delete(store_t *s, const char *key) {
    sqlite3_stmt *st;
    if (!key) return failf(s, -EINVAL, "a key is needed");
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_KV_DELETE, &st);
    if (code < 0) return code;
    bind_text(st, 1, key);
    code = stmt_exec(s, st);
    return code < 0 ? code : store_flush(s);
}

/* A JSON number: the value, and whether it is written as an integer that fits
 * int64 (then *i holds it exactly). Returns 0 or -EINVAL. */
static int parse_number(const char *text, double *d, int64_t *i, int *is_int) {
    static const char *const ws = " \t\n\r";
    const char *p = text + strspn(text, ws), *start = p, *digits;
    int integral = 1;
    char *end;

    if (*p == '-') p++;
    digits = p;
    if (*p == '0')
        p++;
    else
        while (*p >= '0' && *p <= '9') p++;
    if (p == digits) return -EINVAL;
    if (*p == '.') {
        integral = 0;
        digits = ++p;
        while (*p >= '0' && *p <= '9') p++;
        if (p == digits) return -EINVAL;
    }
    if (*p == 'e' || *p == 'E') {
        integral = 0;
        if (*++p == '+' || *p == '-') p++;
        digits = p;
        while (*p >= '0' && *p <= '9') p++;
        if (p == digits) return -EINVAL;
    }
    if (p[strspn(p, ws)] != '\0') return -EINVAL;
    *d = strtod(start, &end);
    if (!isfinite(*d)) return -EINVAL;
    *is_int = 0;
    if (integral) {
        errno = 0;
        long long v = strtoll(start, &end, 10);
        if (errno == 0) {
            *i = v;
            *is_int = 1;
        }
    }
    return 0;
}

/* JSON text for a finite number: integers without ".0", others in the
 * fewest digits that read back as the same double. */
static void format_number(double d, char *buf, size_t len) {
    if (d == trunc(d) && fabs(d) < 9223372036854775808.0) {
        snprintf(buf, len, "%lld", (long long)d);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) return;
    }
}

int store_kv_incr(store_t *s, const char *key, double by, double *out) {
    char *old = NULL, text[40], shown[72];
    double d = 0, sum;
    int64_t i = 0;
    int is_int = 1;

    if (!key) return failf(s, -EINVAL, "a key is needed");
    if (!isfinite(by)) return failf(s, -EINVAL, "the increment is not a finite number");
    int code = store_kv_get(s, key, &old);
    if (code < 0) return code;
    if (old && parse_number(old, &d, &i, &is_int) < 0) {
        code =
            failf(s, -EINVAL, "the value is not a number: %s", excerpt(old, shown, sizeof shown));
        free(old);
        return code;
    }
    free(old);

    /* Integers stay exact past 2^53 while they fit int64. */
    int by_int = by == trunc(by) && fabs(by) < 9223372036854775808.0;
    int64_t b = by_int ? (int64_t)by : 0;
    if (is_int && by_int && !(b > 0 && i > INT64_MAX - b) && !(b < 0 && i < INT64_MIN - b)) {
        snprintf(text, sizeof text, "%lld", (long long)(i + b));
        sum = (double)(i + b);
    } else {
        sum = d + by;
        if (!isfinite(sum)) return failf(s, -EINVAL, "the result is not a finite number");
        format_number(sum, text, sizeof text);
    }
    code = store_kv_set(s, key, text);
    if (code == 0 && out) *out = sum;
    return code;
}

/* ---- per-job state ---- */

int store_job_get(store_t *s, const char *job, store_job_state_t *st) {
    sqlite3_stmt *q;
    memset(st, 0, sizeof *st);
    if (!job) return failf(s, -EINVAL, "a job name is needed");
    int code = stmt_get(s, STMT_JOB_GET, &q);
    if (code < 0) return code;
    bind_text(q, 1, job);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        st->has_offset = sqlite3_column_int(q, 0) != 0;
        st->offset = sqlite3_column_double(q, 1);
        st->every = sqlite3_column_double(q, 2);
        st->last_ok = sqlite3_column_double(q, 3);
        st->last_fail = sqlite3_column_double(q, 4);
        st->last_due = sqlite3_column_double(q, 5);
        st->paused = sqlite3_column_int(q, 6) != 0;
    } else {
        code = rc == SQLITE_DONE ? 1 : fail(s, rc);
    }
    stmt_done(q);
    return code;
}

int store_job_put(store_t *s, const char *job, const store_job_state_t *st) {
    sqlite3_stmt *q;
    if (!job || !st) return failf(s, -EINVAL, "a job name and a state are needed");
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_JOB_PUT, &q);
    if (code < 0) return code;
    bind_text(q, 1, job);
    sqlite3_bind_int(q, 2, st->has_offset != 0);
    sqlite3_bind_double(q, 3, st->offset);
    sqlite3_bind_double(q, 4, st->every);
    bind_time(q, 5, st->last_ok);
    bind_time(q, 6, st->last_fail);
    bind_time(q, 7, st->last_due);
    sqlite3_bind_int(q, 8, st->paused != 0);
    return stmt_exec(s, q);
}

int store_breaker_get(store_t *s, const char *name, store_breaker_t *b) {
    sqlite3_stmt *q;
    memset(b, 0, sizeof *b);
    if (!name) return failf(s, -EINVAL, "a breaker name is needed");
    int code = stmt_get(s, STMT_BREAKER_GET, &q);
    if (code < 0) return code;
    bind_text(q, 1, name);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *state = sqlite3_column_text(q, 0);
        snprintf(b->state, sizeof b->state, "%s", state ? (const char *)state : "closed");
        b->opened_at = sqlite3_column_double(q, 1);
        b->failures = sqlite3_column_int(q, 2);
        b->changed_at = sqlite3_column_double(q, 3);
    } else {
        code = rc == SQLITE_DONE ? 1 : fail(s, rc);
    }
    stmt_done(q);
    return code;
}

int store_breaker_put(store_t *s, const char *name, const store_breaker_t *b) {
    sqlite3_stmt *q;
    if (!name || !b) return failf(s, -EINVAL, "a breaker name and a state are needed");
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_BREAKER_PUT, &q);
    if (code < 0) return code;
    bind_text(q, 1, name);
    bind_text(q, 2, b->state);
    bind_time(q, 3, b->opened_at);
    sqlite3_bind_int(q, 4, b->failures);
    bind_time(q, 5, b->changed_at);
    return stmt_exec(s, q);
}

int store_session_get(store_t *s, const char *name, char **cookies) {
    sqlite3_stmt *q;
    *cookies = NULL;
    if (!name) return failf(s, -EINVAL, "a session name is needed");
    int code = stmt_get(s, STMT_SESSION_GET, &q);
    if (code < 0) return code;
    bind_text(q, 1, name);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(q, 0);
        *cookies = strdup(text ? (const char *)text : "[]");
        if (!*cookies) code = failf(s, -ENOMEM, "out of memory");
    } else {
        code = rc == SQLITE_DONE ? 1 : fail(s, rc);
    }
    stmt_done(q);
    return code;
}

int store_session_put(store_t *s, const char *name, const char *cookies, double saved_at) {
    sqlite3_stmt *q;
    if (!name || !cookies) return failf(s, -EINVAL, "a session name and cookies are needed");
    int code = begin_write(s);
    if (code == 0) code = stmt_get(s, STMT_SESSION_PUT, &q);
    if (code < 0) return code;
    bind_text(q, 1, name);
    bind_text(q, 2, cookies);
    bind_time(q, 3, saved_at);
    return stmt_exec(s, q);
}
