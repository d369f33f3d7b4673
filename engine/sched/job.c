/* job.c — turns the tables a script passed to `job "name" { … }` into job_t,
 * checking every field and naming file, line, job and field on error. */
#include "job.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/units.h"

static const char *const priority_names[PRIO_COUNT] = {"critical", "high", "medium", "low"};

const char *job_priority_name(job_priority_t p) {
    return (unsigned)p < PRIO_COUNT ? priority_names[p] : "?";
}

typedef struct reader {
    lua_State *L;
    int spec; /* stack index of the spec table */
    const char *file;
    int line;
    const char *name;
    char *err;
    size_t errlen;
} reader_t;

static int fail(reader_t *r, const char *field, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (field)
        snprintf(r->err, r->errlen, "%s:%d: job '%s': %s: %s", r->file, r->line, r->name, field,
                 msg);
    else
        snprintf(r->err, r->errlen, "%s:%d: job '%s': %s", r->file, r->line, r->name, msg);
    return -EINVAL;
}

/* Reads a duration field at the top of the stack: a number of seconds or a string. */
static int read_duration(reader_t *r, int idx, const char *field, double *out) {
    lua_State *L = r->L;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        *out = lua_tonumber(L, idx);
        if (!(*out >= 0) || isinf(*out)) return fail(r, field, "must be a duration >= 0");
        return 0;
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        if (units_duration(lua_tostring(L, idx), out) < 0)
            return fail(r, field,
                        "bad duration '%s' (use e.g. 30, \"250ms\", \"5s\", \"15m\", "
                        "\"2h\", \"1d\")",
                        lua_tostring(L, idx));
        return 0;
    }
    return fail(r, field, "expected a duration, got %s", luaL_typename(L, idx));
}

static int read_enum(reader_t *r, int idx, const char *field, const char *const *names, int n,
                     int *out) {
    if (lua_type(r->L, idx) != LUA_TSTRING)
        return fail(r, field, "expected a string, got %s", luaL_typename(r->L, idx));
    const char *v = lua_tostring(r->L, idx);
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, i ? " | " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    /* "unknown priority 'urgent'" reads better than "bad value" */
    return fail(r, NULL, "unknown %s '%s' (expected %s)", field, v, list);
}

static int read_string(reader_t *r, int idx, const char *field, char **out) {
    if (lua_type(r->L, idx) != LUA_TSTRING)
        return fail(r, field, "expected a string, got %s", luaL_typename(r->L, idx));
    if (lua_rawlen(r->L, idx) == 0) return fail(r, field, "must not be empty");
    *out = strdup(lua_tostring(r->L, idx));
    return *out ? 0 : fail(r, field, "out of memory");
}

static int read_retry(reader_t *r, int idx, conf_retry_t *retry) {
    lua_State *L = r->L;
    static const char *const backoffs[] = {"exponential", "linear", "constant"};
    static const char *const jitters[] = {"none", "full", "equal", "decorrelated"};
    if (lua_type(L, idx) == LUA_TNUMBER && lua_isinteger(L, idx)) {
        /* retry = 5 is shorthand for { attempts = 5 } */
        if (lua_tointeger(L, idx) < 1) return fail(r, "retry", "attempts must be >= 1");
        retry->attempts = (int)lua_tointeger(L, idx);
        return 0;
    }
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        if (!lua_toboolean(L, idx)) retry->attempts = 1;
        return 0;
    }
    if (!lua_istable(L, idx))
        return fail(r, "retry", "expected a table, got %s", luaL_typename(L, idx));
    idx = lua_absindex(L, idx);
    int max_given = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int rc = 0, choice;
        if (!k) {
            rc = fail(r, "retry", "keys must be names");
        } else if (strcmp(k, "attempts") == 0) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 1000)
                rc = fail(r, "retry.attempts", "expected an integer from 1 to 1000");
            else
                retry->attempts = (int)lua_tointeger(L, -1);
        } else if (strcmp(k, "base") == 0) {
            rc = read_duration(r, -1, "retry.base", &retry->base);
        } else if (strcmp(k, "max") == 0) {
            rc = read_duration(r, -1, "retry.max", &retry->max);
            max_given = 1;
        } else if (strcmp(k, "backoff") == 0) {
            rc = read_enum(r, -1, "retry.backoff", backoffs, 3, &choice);
            if (rc == 0) snprintf(retry->backoff, sizeof retry->backoff, "%s", backoffs[choice]);
        } else if (strcmp(k, "jitter") == 0) {
            rc = read_enum(r, -1, "retry.jitter", jitters, 4, &choice);
            if (rc == 0) snprintf(retry->jitter, sizeof retry->jitter, "%s", jitters[choice]);
        } else {
            rc = fail(r, "retry",
                      "unknown field '%s' (expected attempts, backoff, base, max, "
                      "jitter)",
                      k);
        }
        if (rc < 0) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    /* The longest wait is at least the first: a max given below base is refused;
     * a base alone past the inherited max takes max with it. */
    if (retry->max < retry->base) {
        char max[32], base[32];
        if (!max_given) {
            retry->max = retry->base;
            return 0;
        }
        units_format_duration(retry->max, max, sizeof max);
        units_format_duration(retry->base, base, sizeof base);
        return fail(r, "retry.max", "%s is less than retry.base (%s)", max, base);
    }
    return 0;
}

static int read_requires(reader_t *r, int idx, job_t *j) {
    lua_State *L = r->L;
    if (!lua_istable(L, idx))
        return fail(r, "requires", "expected a table like { discover = \"2h\" }, got %s",
                    luaL_typename(L, idx));
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return fail(r, "requires", "keys must be job names, like { discover = \"2h\" }");
        }
        job_require_t *more = realloc(j->requires, (size_t)(j->nrequires + 1) * sizeof *more);
        if (!more) {
            lua_pop(L, 2);
            return fail(r, "requires", "out of memory");
        }
        j->requires = more;
        job_require_t *req = &j->requires[j->nrequires];
        char field[160];
        snprintf(field, sizeof field, "requires.%s", lua_tostring(L, -2));
        int rc = read_duration(r, -1, field, &req->within);
        if (rc == 0 && req->within <= 0) rc = fail(r, field, "window must be > 0");
        if (rc < 0) {
            lua_pop(L, 2);
            return rc;
        }
        req->job = strdup(lua_tostring(L, -2));
        j->nrequires++;
        lua_pop(L, 1);
    }
    return 0;
}

/* downloads = true | false | { max_bytes = "50MB", max_files = 20 } */
static int read_downloads(reader_t *r, int idx, job_t *j) {
    lua_State *L = r->L;
    j->download_max_bytes = JOB_DOWNLOAD_MAX_BYTES;
    j->download_max_files = JOB_DOWNLOAD_MAX_FILES;
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        j->downloads = lua_toboolean(L, idx);
        return 0;
    }
    if (!lua_istable(L, idx))
        return fail(r, "downloads",
                    "expected true, false or { max_bytes = \"50MB\", max_files = 20 }, "
                    "got %s",
                    luaL_typename(L, idx));
    j->downloads = 1;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int rc = 0;
        if (!k) {
            rc = fail(r, "downloads", "keys must be names (max_bytes, max_files)");
        } else if (strcmp(k, "max_bytes") == 0) {
            size_t n = 0;
            int isint = 0;
            lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
            if (isint && v > 0)
                n = (size_t)v;
            else if (lua_type(L, -1) == LUA_TSTRING && units_size(lua_tostring(L, -1), &n) < 0)
                n = 0;
            if (n == 0)
                rc = fail(r, "downloads.max_bytes",
                          "expected a size > 0 (a number of bytes, \"512KB\", \"50MB\", \"1GB\")");
            j->download_max_bytes = n;
        } else if (strcmp(k, "max_files") == 0) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
                lua_tointeger(L, -1) > JOB_DOWNLOAD_FILES_CAP)
                rc = fail(r, "downloads.max_files", "expected an integer from 1 to %d",
                          JOB_DOWNLOAD_FILES_CAP);
            else
                j->download_max_files = (int)lua_tointeger(L, -1);
        } else {
            rc = fail(r, "downloads", "unknown field '%s' (expected max_bytes, max_files)", k);
        }
        if (rc < 0) {
            lua_pop(L, 2);
            return rc;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static int ref_function(reader_t *r, int idx, const char *field, int *ref) {
    if (lua_type(r->L, idx) != LUA_TFUNCTION)
        return fail(r, field, "expected a function, got %s", luaL_typename(r->L, idx));
    lua_pushvalue(r->L, idx);
    *ref = luaL_ref(r->L, LUA_REGISTRYINDEX);
    return 0;
}

static int read_field(reader_t *r, const char *k, job_t *j, int *has_offset) {
    lua_State *L = r->L;
    static const char *const prios[] = {"critical", "high", "medium", "low"};
    static const char *const overlaps[] = {"skip", "queue", "replace"};
    static const char *const misfires[] = {"run_once", "skip"};
    int choice, rc;
    if (strcmp(k, "every") == 0) {
        if ((rc = read_duration(r, -1, "every", &j->every)) < 0) return rc;
        if (j->every < 1) return fail(r, "every", "must be at least 1s");
        return 0;
    }
    if (strcmp(k, "offset") == 0) {
        *has_offset = 1;
        if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0) {
            j->offset_auto = 1;
            return 0;
        }
        return read_duration(r, -1, "offset", &j->offset);
    }
    if (strcmp(k, "cron") == 0) {
        char cerr[256];
        if ((rc = read_string(r, -1, "cron", &j->cron_text)) < 0) return rc;
        if (cron_parse(&j->cron, j->cron_text, cerr, sizeof cerr) < 0)
            return fail(r, "cron", "'%s': %s", j->cron_text, cerr);
        j->has_cron = 1;
        return 0;
    }
    if (strcmp(k, "jitter") == 0) return read_duration(r, -1, "jitter", &j->jitter);
    if (strcmp(k, "timeout") == 0) {
        if ((rc = read_duration(r, -1, "timeout", &j->timeout)) < 0) return rc;
        return j->timeout > 0 ? 0 : fail(r, "timeout", "must be > 0");
    }
    if (strcmp(k, "priority") == 0) {
        if ((rc = read_enum(r, -1, "priority", prios, 4, &choice)) < 0) return rc;
        j->priority = (job_priority_t)choice;
        return 0;
    }
    if (strcmp(k, "overlap") == 0) {
        if ((rc = read_enum(r, -1, "overlap", overlaps, 3, &choice)) < 0) return rc;
        j->overlap = (job_overlap_t)choice;
        return 0;
    }
    if (strcmp(k, "misfire") == 0) {
        if ((rc = read_enum(r, -1, "misfire", misfires, 2, &choice)) < 0) return rc;
        j->misfire = (job_misfire_t)choice;
        return 0;
    }
    if (strcmp(k, "retry") == 0) return read_retry(r, -1, &j->retry);
    if (strcmp(k, "breaker") == 0) return read_string(r, -1, "breaker", &j->breaker);
    if (strcmp(k, "after") == 0) return read_string(r, -1, "after", &j->after);
    if (strcmp(k, "requires") == 0) return read_requires(r, -1, j);
    if (strcmp(k, "run") == 0) return ref_function(r, -1, "run", &j->run_ref);
    if (strcmp(k, "fallback") == 0) return ref_function(r, -1, "fallback", &j->fallback_ref);
    if (strcmp(k, "downloads") == 0) return read_downloads(r, -1, j);
    if (strcmp(k, "browser") == 0) {
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            j->browser = lua_toboolean(L, -1);
            return 0;
        }
        if (lua_istable(L, -1)) {
            j->browser = 1;
            lua_getfield(L, -1, "session");
            rc = lua_isnil(L, -1) ? 0 : read_string(r, -1, "browser.session", &j->session);
            lua_pop(L, 1);
            return rc;
        }
        return fail(r, "browser", "expected true, false or { session = \"name\" }");
    }
    return fail(
        r, NULL,
        "unknown field '%s' (expected every, offset, cron, jitter, priority, timeout, "
        "retry, breaker, browser, downloads, requires, after, overlap, misfire, run, fallback)",
        k);
}

job_t *job_ref(job_t *j) {
    if (j) j->refs++;
    return j;
}

void job_unref(job_t *j) {
    if (!j || --j->refs > 0) return;
    free(j->name);
    free(j->file);
    free(j->cron_text);
    free(j->breaker);
    free(j->session);
    free(j->after);
    for (int i = 0; i < j->nrequires; i++) free(j->requires[i].job);
    free(j->requires);
    if (j->script) script_unref(j->script);
    free(j);
}

static int read_job(reader_t *r, script_t *s, const conf_t *conf, job_t **out) {
    lua_State *L = r->L;
    job_t *j = calloc(1, sizeof *j);
    int has_offset = 0, rc = 0;
    if (!j) return fail(r, NULL, "out of memory");
    j->refs = 1;
    j->name = strdup(r->name);
    j->file = strdup(r->file);
    j->line = r->line;
    j->script = s;
    script_ref(s);
    j->run_ref = j->fallback_ref = LUA_NOREF;
    j->priority = PRIO_MEDIUM;
    j->timeout = conf->default_timeout;
    j->retry = conf->default_retry;
    j->overlap = OVERLAP_SKIP;
    j->misfire = MISFIRE_RUN_ONCE;

    lua_pushnil(L);
    while (lua_next(L, r->spec)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            rc = fail(r, NULL, "fields must be names (found a %s key)", luaL_typename(L, -2));
        } else {
            char key[64];
            snprintf(key, sizeof key, "%s", lua_tostring(L, -2));
            rc = read_field(r, key, j, &has_offset);
        }
        if (rc < 0) {
            lua_pop(L, 2);
            goto bad;
        }
        lua_pop(L, 1);
    }
    if (j->run_ref == LUA_NOREF) {
        rc = fail(r, "run", "missing: every job needs run = function(ctx) … end");
        goto bad;
    }
    if (j->every > 0 && j->has_cron) {
        rc = fail(r, NULL, "has both every and cron: pick one");
        goto bad;
    }
    if (has_offset && j->every <= 0) {
        rc = fail(r, "offset", "only applies to an `every` schedule");
        goto bad;
    }
    if (j->offset_auto && j->every > 7 * 86400) {
        rc = fail(r, "offset", "\"auto\" needs every <= 7d (placement counts a whole period)");
        goto bad;
    }
    if (!j->offset_auto && j->every > 0 && j->offset >= j->every) {
        char a[32], b[32];
        units_format_duration(j->offset, a, sizeof a);
        units_format_duration(j->every, b, sizeof b);
        rc = fail(r, "offset", "%s is not shorter than every (%s)", a, b);
        goto bad;
    }
    if (j->downloads && !j->browser) {
        rc = fail(r, "downloads", "only applies to a job with browser = true");
        goto bad;
    }
    if (j->after && strcmp(j->after, j->name) == 0) {
        rc = fail(r, "after", "a job cannot run after itself");
        goto bad;
    }
    *out = j;
    return 0;
bad:
    job_unref(j);
    return rc;
}

int job_read_all(script_t *s, const conf_t *conf, job_t ***jobs, size_t *njobs, char *err,
                 size_t errlen) {
    lua_State *L = script_state(s);
    int top = lua_gettop(L);
    *jobs = NULL;
    *njobs = 0;
    if (!lua_checkstack(L, 16)) {
        snprintf(err, errlen, "%s: out of memory", script_path(s));
        return -ENOMEM;
    }
    script_push_defs(s);
    size_t n = (size_t)lua_rawlen(L, -1);
    job_t **list = calloc(n ? n : 1, sizeof *list);
    if (!list) {
        lua_settop(L, top);
        snprintf(err, errlen, "%s: out of memory", script_path(s));
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, top + 1, (lua_Integer)i + 1);
        int def = lua_gettop(L);
        lua_getfield(L, def, "name");
        lua_getfield(L, def, "file");
        lua_getfield(L, def, "line");
        lua_getfield(L, def, "spec");
        reader_t r = {L,
                      lua_gettop(L),
                      lua_tostring(L, def + 2),
                      (int)lua_tointeger(L, def + 3),
                      lua_tostring(L, def + 1),
                      err,
                      errlen};
        int rc = read_job(&r, s, conf, &list[i]);
        lua_settop(L, top + 1);
        if (rc < 0) {
            lua_settop(L, top);
            job_free_all(list, i);
            return rc;
        }
        /* Two definitions of one name in the same file. */
        for (size_t k = 0; k < i; k++) {
            if (strcmp(list[k]->name, list[i]->name) == 0) {
                snprintf(err, errlen, "%s:%d: job '%s' is already defined at %s:%d", list[i]->file,
                         list[i]->line, list[i]->name, list[k]->file, list[k]->line);
                lua_settop(L, top);
                job_free_all(list, i + 1);
                return -EINVAL;
            }
        }
    }
    lua_settop(L, top);
    *jobs = list;
    *njobs = n;
    return 0;
}

void job_free_all(job_t **jobs, size_t njobs) {
    for (size_t i = 0; i < njobs; i++) job_unref(jobs[i]);
    free(jobs);
}

void job_describe_schedule(const job_t *j, char *buf, size_t len) {
    char every[32], offset[32];
    if (j->has_cron) {
        snprintf(buf, len, "cron %s", j->cron_text);
    } else if (j->every > 0) {
        units_format_duration(j->every, every, sizeof every);
        units_format_duration(j->offset, offset, sizeof offset);
        if (j->offset_auto)
            snprintf(buf, len, "every %s offset auto(%s)", every, offset);
        else if (j->offset > 0)
            snprintf(buf, len, "every %s offset %s", every, offset);
        else
            snprintf(buf, len, "every %s", every);
    } else if (j->after) {
        snprintf(buf, len, "after %s", j->after);
    } else {
        snprintf(buf, len, "manual");
    }
}

double job_next_start(const job_t *j, double after) {
    if (j->has_cron) return cron_next(&j->cron, after);
    if (j->every <= 0) return -1;
    double k = floor((after - j->offset) / j->every) + 1;
    double t = j->offset + k * j->every;
    if (t <= after) t += j->every; /* guards rounding at exact multiples */
    return t;
}
