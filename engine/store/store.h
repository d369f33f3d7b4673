/* store.h — the sqlite store: schema and migrations, run rows (one per
 * attempt), the key/value store behind ctx.store / baton.store (JSON values,
 * shared by all scripts), and per-job state (auto offsets, last success and
 * failure, last due start, paused). One connection, used from the loop thread.
 *
 * Writes are batched: the first write opens a transaction and store_flush()
 * commits it (the engine calls it on a short timer and at shutdown), so the
 * loop never waits on an fsync per run. Reads on the same connection see the
 * pending writes. WAL mode, synchronous=NORMAL. What a script writes (the
 * key/value calls) and the record of a run starting are committed before the
 * call returns, so a script is never told a value is stored that is not. A
 * batch that cannot be committed (disk full, file read-only, deleted or
 * replaced) is rolled back and the reason kept for health
 * (store_write_error). */
#ifndef BATON_STORE_H
#define BATON_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Opens (creating if needed) the database at path (":memory:" allowed) and
 * brings its schema to the current version. read_only = 1 opens an existing
 * file without creating or migrating it (for `baton check`/`plan`; a missing
 * file is then -ENOENT with no message). Errors return a negative code and one
 * line in err: locked by another process, not a database / corrupt, newer schema
 * than this build, cannot create or write. Nothing existing is ever
 * overwritten or truncated on error. */
int store_open(store_t **out, const char *path, int read_only, char *err, size_t errlen);

/* Commits pending writes and closes. NULL is a no-op. */
void store_close(store_t *s);

/* Commits the pending transaction, if any, after store_check. Returns 0 or a
 * negative code (the message is available from store_errmsg); on failure the
 * pending writes are rolled back and the store's write error is set. A
 * successful commit clears it. */
int store_flush(store_t *s);

/* Checks that the database file is still the one opened (same device and
 * inode at its resolved path, not deleted) and writable. 0, or < 0 with the
 * reason in store_errmsg and as the store's write error. Cheap (two system
 * calls); a no-op for ":memory:" and read-only stores. */
int store_check(store_t *s);

/* Why the last commit or check failed, or NULL when the last commit worked. */
const char *store_write_error(const store_t *s);

/* How many writes, commits and checks have failed since open. */
uint64_t store_write_errors(const store_t *s);

/* 1 when writes are pending (a transaction is open). */
int store_dirty(const store_t *s);

/* The last error message from sqlite or the store. */
const char *store_errmsg(const store_t *s);

/* ---- runs ---- */

typedef struct store_run {
    int64_t run_id; /* shared by the attempts of one start */
    const char *job;
    int attempt;            /* 1.. */
    double scheduled_at;    /* epoch seconds, fractions allowed; 0 = NULL */
    double started_at;      /* 0 = NULL (skipped runs never started) */
    double ended_at;        /* 0 = NULL */
    const char *status;     /* ok | failed | fallback | skipped | cancelled */
    const char *error_kind; /* NULL when none */
    const char *error;      /* NULL when none */
    const char *result;     /* JSON text or NULL */
} store_run_t;

/* A run row as its readers show it (the HTTP API's JSON, the test kit's
 * t:runs), field by field in this order: run_id, job, attempt, scheduled_at,
 * started_at, ended_at, status, error_kind, error, result. The one null rule:
 * a time of 0 (or less), a NULL string and a NULL result are
 * STORE_FIELD_NULL; a reader shows a result that does not parse as null too. */
typedef enum {
    STORE_FIELD_NULL,
    STORE_FIELD_INT,  /* integer */
    STORE_FIELD_TIME, /* number: epoch seconds */
    STORE_FIELD_TEXT, /* text */
    STORE_FIELD_JSON  /* text: a JSON document */
} store_field_kind_t;

typedef struct store_field {
    const char *key;
    store_field_kind_t kind;
    int64_t integer;
    double time;
    const char *text; /* valid as long as the row's strings */
} store_field_t;

enum { STORE_RUN_FIELDS = 10 };

/* Fills f with r's STORE_RUN_FIELDS fields, in the order above. */
void store_run_fields(const store_run_t *r, store_field_t f[STORE_RUN_FIELDS]);

/* A new run id, greater than every run id the database has ever handed out:
 * ids are reserved in blocks whose high-water mark is committed before use,
 * so an engine killed mid-run skips ids at its next start but never repeats
 * one. A clean close gives the unused ids of the block back. */
int64_t store_run_id_next(store_t *s);

/* How a run the engine died during is recorded at the next open. */
#define STORE_CRASHED_STATUS "failed"
#define STORE_CRASHED_KIND "crashed"

/* Records that attempt r->attempt of run r->run_id (job, scheduled_at,
 * started_at) is in flight, and commits it with the pending batch. At open,
 * every such record left behind becomes a run row of status
 * STORE_CRASHED_STATUS and kind STORE_CRASHED_KIND (ended_at: the time of
 * that open). Returns 0 or < 0. */
int store_inflight_begin(store_t *s, const store_run_t *r);
/* The run has ended: drops its in-flight record, in the same batch as its
 * last row, so a crash loses both or neither. */
int store_inflight_end(store_t *s, int64_t run_id);
/* How many in-flight records the open turned into crashed rows. */
int64_t store_recovered(const store_t *s);

/* Appends one attempt row (strings are copied by sqlite). Returns 0 or < 0. */
int store_run_add(store_t *s, const store_run_t *r);

/* Calls cb for the newest `limit` rows (limit <= 0: all) of `job` (NULL: all
 * jobs), newest first; strings are valid only during the callback. cb returns
 * non-zero to stop. Returns 0 or < 0. */
typedef int (*store_run_cb)(void *ud, const store_run_t *r);
int store_runs(store_t *s, const char *job, int limit, store_run_cb cb, void *ud);

/* Calls cb for every attempt row of run run_id, first attempt first (none
 * when there is no such run); as store_runs otherwise. */
int store_run_attempts(store_t *s, int64_t run_id, store_run_cb cb, void *ud);

/* Calls fn after every run row store_run_add writes (NULL removes it), for
 * counters that see each attempt. Strings are valid only during the call. */
void store_on_run(store_t *s, void (*fn)(void *ud, const store_run_t *r), void *ud);

/* One start's attempts folded together: the last attempt's status and error,
 * the first attempt's start, the last one's end. */
typedef struct store_run_summary {
    int64_t run_id;
    const char *job;
    int attempts;
    double started_at; /* 0 when it never started (skipped) */
    double ended_at;
    const char *status;
    const char *error_kind; /* NULL when none */
} store_run_summary_t;

/* Calls cb for every run (not attempt) with an attempt ending at or after
 * `since`, in no particular order; strings are valid only during the callback.
 * cb returns non-zero to stop. Returns 0 or < 0. */
typedef int (*store_summary_cb)(void *ud, const store_run_summary_t *r);
int store_run_summaries(store_t *s, double since, store_summary_cb cb, void *ud);

/* Calls cb for the newest `limit` failed attempts (status failed or fallback),
 * newest first, as store_runs does. */
int store_run_errors(store_t *s, int limit, store_run_cb cb, void *ud);

/* Deletes run rows whose ended_at (or scheduled_at, for rows without it) is
 * before `before`. Writes the number deleted to *deleted if not NULL. */
int store_prune(store_t *s, double before, int64_t *deleted);

/* ---- key/value (values are JSON text) ---- */

/* *json gets a malloc'd copy of the value, or NULL when the key is absent.
 * Caller frees. Returns 0 or < 0. */
int store_kv_get(store_t *s, const char *key, char **json);
int store_kv_set(store_t *s, const char *key, const char *json);
int store_kv_delete(store_t *s, const char *key);
/* Adds `by` to the number stored at key (absent counts as 0) and writes the
 * new value to *out. -EINVAL (with a message) when the value is not a number. */
int store_kv_incr(store_t *s, const char *key, double by, double *out);

/* ---- per-job state ---- */

typedef struct store_job_state {
    int has_offset;   /* an auto offset was chosen and kept */
    double offset;    /* seconds */
    double every;     /* the period the offset was chosen for */
    double last_ok;   /* ended_at of the last successful run, 0 = never */
    double last_fail; /* ended_at of the last failed run, 0 = never */
    double last_due;  /* scheduled_at of the last start handled (run or skipped), 0 = never */
    int paused;
} store_job_state_t;

/* Fills *st for job. Returns 0 when found, 1 when the job has no state yet
 * (*st zeroed), < 0 on error. */
int store_job_get(store_t *s, const char *job, store_job_state_t *st);
/* Inserts or replaces the state of job. */
int store_job_put(store_t *s, const char *job, const store_job_state_t *st);

/* ---- circuit breakers (schema v2) ---- */

typedef struct store_breaker {
    char state[16];    /* closed | open | half_open */
    double opened_at;  /* 0 = NULL */
    int failures;      /* consecutive failures */
    double changed_at; /* when the state last changed; 0 = NULL */
} store_breaker_t;

/* Fills *b for the named breaker. Returns 0 when found, 1 when none is kept
 * (*b zeroed), < 0 on error. */
int store_breaker_get(store_t *s, const char *name, store_breaker_t *b);
/* Inserts or replaces the kept state of the named breaker. */
int store_breaker_put(store_t *s, const char *name, const store_breaker_t *b);

/* ---- browser sessions (schema v3) ---- */

/* The saved cookies (a JSON array, malloc'd, caller frees) of a named session.
 * Returns 0 when found, 1 when none are kept (*cookies NULL), < 0 on error. */
int store_session_get(store_t *s, const char *name, char **cookies);
/* Inserts or replaces the cookies (JSON array text) of a named session. */
int store_session_put(store_t *s, const char *name, const char *cookies, double saved_at);

#endif
