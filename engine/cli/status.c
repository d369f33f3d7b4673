/* status.c — one blocking request to our own engine through libwebsockets'
 * HTTP client, the summary `baton status` prints, and `baton reload`. */
#include "status.h"

#include <cJSON.h>
#include <errno.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"
#include "base/units.h"
#include "base/vclock.h"

enum { MAX_ANSWER = 8 << 20, TIMEOUT_MS = 5000, RELOAD_TIMEOUT_MS = 60000 };

/* One request's state, for the lws callback. */
typedef struct call {
    const char *token;
    int post;
    int done; /* 1: answered; < 0: a negative errno code */
    int status;
    char *buf;
    size_t len, cap;
} call_t;

static int keep(call_t *c, const void *data, size_t n) {
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 65536;
        while (c->len + n + 1 > cap) cap *= 2;
        char *more = cap <= MAX_ANSWER ? realloc(c->buf, cap) : NULL;
        if (!more) return -1;
        c->buf = more;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = 0;
    return 0;
}

static int on_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len) {
    call_t *c = lws_get_opaque_user_data(wsi);
    if (!c) return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        c->done = -ECONNREFUSED; /* lws says only "Unable to connect" */
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        char auth[400];
        if (c->token && c->token[0]) {
            int n = snprintf(auth, sizeof auth, "Bearer %s", c->token);
            if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                             (unsigned char *)auth, n, p, end))
                return -1;
        }
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCEPT,
                                         (unsigned char *)"application/json", 16, p, end))
            return -1;
        if (c->post && lws_add_http_header_content_length(wsi, 0, p, end)) return -1;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        c->status = (int)lws_http_client_http_response(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char rx[4096 + LWS_PRE], *p = rx + LWS_PRE;
        int n = (int)sizeof rx - LWS_PRE;
        return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (keep(c, in, len) < 0) {
            c->done = -EFBIG;
            return -1;
        }
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (!c->done) c->done = 1;
        return -1;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (!c->done) c->done = c->status ? 1 : -EPROTO; /* answered to the close */
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"baton-status", on_http, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int status_http_get(const char *host, int port, const char *path, int timeout_ms, int *status,
                    char **body) {
    return status_http_call("GET", host, port, path, NULL, timeout_ms, status, body);
}

/* One request through libwebsockets' client, on a context of its own
 * (its own poll loop: nothing else runs in this process). */
int status_http_call(const char *method, const char *host, int port, const char *path,
                     const char *token, int timeout_ms, int *status, char **body) {
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;
    call_t c = {.token = token, .post = strcmp(method, "GET") != 0};
    *body = NULL;
    memset(&info, 0, sizeof info);
    lws_set_log_level(LLL_ERR, NULL);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) return -ENOMEM;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = host;
    ci.host = host;
    ci.origin = host;
    ci.port = port;
    ci.path = path;
    ci.method = method;
    ci.protocol = protocols[0].name;
    ci.opaque_user_data = &c;
    if (!lws_client_connect_via_info(&ci) && !c.done) c.done = -EHOSTUNREACH;
    double deadline = vclock_wall() + timeout_ms / 1000.0;
    while (!c.done && vclock_wall() < deadline) lws_service(ctx, 100);
    lws_context_destroy(ctx);
    if (c.done < 0 || !c.done) {
        free(c.buf);
        return c.done ? c.done : -ETIMEDOUT;
    }
    *status = c.status;
    *body = c.buf ? c.buf : strdup("");
    return *body ? 0 : -ENOMEM;
}

/* ---- the summary ---- */

static double num(const cJSON *o, const char *key, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *str(const cJSON *o, const char *key, const char *dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static void ago(double now, double t, char *buf, size_t len, int future) {
    char d[32];
    if (t <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    double secs = future ? t - now : now - t;
    if (secs < 0) secs = 0;
    units_format_duration(round(secs), d, sizeof d);
    snprintf(buf, len, future ? "in %s" : "%s ago", d);
}

static void ms_text(double ms, char *buf, size_t len) {
    if (ms < 1000)
        snprintf(buf, len, "%.0fms", ms);
    else
        snprintf(buf, len, "%.1fs", ms / 1000);
}

/* "http client: 1 in flight; 12 requests (10 ok, 1 http_5xx, 1 network); p50 2ms …" */
static void print_http_client(const cJSON *hc, FILE *out) {
    static const char *const outcomes[] = {"ok",      "http_4xx", "http_5xx", "network",
                                           "timeout", "limit",    "refused"};
    if (!cJSON_IsObject(hc)) return;
    double by[sizeof outcomes / sizeof *outcomes] = {0};
    const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(hc, "requests"), *h;
    cJSON_ArrayForEach(h, hosts) {
        for (size_t k = 0; k < sizeof outcomes / sizeof *outcomes; k++)
            by[k] += num(h, outcomes[k], 0);
    }
    fprintf(out, "http client: %.0f in flight; %.0f requests to %d host(s)",
            num(hc, "in_flight", 0), num(hc, "requests_total", 0), cJSON_GetArraySize(hosts));
    const char *sep = " (";
    for (size_t k = 0; k < sizeof outcomes / sizeof *outcomes; k++)
        if (by[k] > 0) {
            fprintf(out, "%s%.0f %s", sep, by[k], outcomes[k]);
            sep = ", ";
        }
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(hc, "latency_ms");
    fprintf(out, "%s; latency p50 %.1fms, p95 %.1fms, p99 %.1fms\n", sep[0] == ',' ? ")" : "",
            num(lat, "p50", 0), num(lat, "p95", 0), num(lat, "p99", 0));
}

static void print_summary(const cJSON *doc, FILE *out, const char *where) {
    double now = num(doc, "now", vclock_wall());
    char up[32], t1[48], t2[48], p50[16], p95[16];
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(doc, "runs");
    const cJSON *lag = cJSON_GetObjectItemCaseSensitive(doc, "loop_lag_ms");
    units_format_duration(num(doc, "uptime_s", 0), up, sizeof up);
    fprintf(out,
            "baton %s at %s: %s, up %s; runs %.0f running, %.0f waiting; loop lag p99 %.1fms\n",
            str(doc, "version", "?"), where, str(doc, "status", "?"), up, num(runs, "running", 0),
            num(runs, "waiting", 0), num(lag, "p99", 0));
    const cJSON *why, *reasons = cJSON_GetObjectItemCaseSensitive(doc, "status_reasons");
    cJSON_ArrayForEach(why, reasons) if (cJSON_IsString(why))
        fprintf(out, "  ! %s\n", why->valuestring);

    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(doc, "jobs"), *j;
    int njobs = cJSON_GetArraySize(jobs), shown = 0;
    fprintf(out, "\njobs (%d)\n  %-20s %-8s %-4s %-12s %-22s %6s %5s %7s %7s\n", njobs, "name",
            "state", "prio", "next", "last", "runs1h", "ok%", "p50", "p95");
    cJSON_ArrayForEach(j, jobs) {
        if (shown++ == 30) {
            fprintf(out, "  ... %d more\n", njobs - 30);
            break;
        }
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(j, "last_run");
        char last_text[64] = "-", rate[16] = "-";
        ago(now, num(j, "next_run_at", 0), t1, sizeof t1, 1);
        if (cJSON_IsObject(last)) {
            ago(now, num(last, "at", 0), t2, sizeof t2, 0);
            snprintf(last_text, sizeof last_text, "%s %s", str(last, "status", "?"), t2);
        }
        double sr = num(j, "success_rate_1h", -1);
        if (sr >= 0) snprintf(rate, sizeof rate, "%.0f", sr * 100);
        ms_text(num(j, "p50_ms", 0), p50, sizeof p50);
        ms_text(num(j, "p95_ms", 0), p95, sizeof p95);
        char prio[9];
        snprintf(prio, sizeof prio, "%s", str(j, "priority", "?"));
        fprintf(out, "  %-20.20s %-8s %-8s %-10s %-22.22s %6.0f %5s %7s %7s\n", str(j, "name", "?"),
                str(j, "state", "?"), prio, t1, last_text, num(j, "runs_1h", 0), rate, p50, p95);
    }

    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(doc, "browser_pool");
    const cJSON *pages = cJSON_GetObjectItemCaseSensitive(pool, "pages");
    fprintf(out,
            "\npool: %.0f browser(s); %.0f of %.0f pages open (%.0f busy, %.0f idle), "
            "%.0f free held in reserve; %.0f waiting; acquire p95 %.0fms\n",
            num(pool, "browsers", 0), num(pages, "total", 0), num(pages, "max", 0),
            num(pages, "busy", 0), num(pages, "idle", 0), num(pages, "reserved", 0),
            num(pool, "waiters", 0), num(pool, "acquire_p95_ms", 0));

    print_http_client(cJSON_GetObjectItemCaseSensitive(doc, "http_client"), out);

    const cJSON *breakers = cJSON_GetObjectItemCaseSensitive(doc, "breakers"), *b;
    if (cJSON_GetArraySize(breakers) > 0) {
        fprintf(out, "breakers:");
        cJSON_ArrayForEach(b, breakers) fprintf(out, " %s %s (%.0f failures);", str(b, "name", "?"),
                                                str(b, "state", "?"), num(b, "failures", 0));
        fprintf(out, "\n");
    } else {
        fprintf(out, "breakers: none\n");
    }

    const cJSON *scripts = cJSON_GetObjectItemCaseSensitive(doc, "scripts"), *s;
    cJSON_ArrayForEach(s, scripts) {
        const char *err = str(s, "error", NULL);
        if (err) fprintf(out, "script failed: %s\n", err);
    }

    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(doc, "recent_errors"), *e;
    int nerr = cJSON_GetArraySize(errors), k = 0;
    fprintf(out, "\nrecent errors (%d)\n", nerr);
    cJSON_ArrayForEach(e, errors) {
        if (k++ == 5) break;
        char when[32] = "";
        time_t at = (time_t)num(e, "at", 0);
        struct tm tm;
        if (at > 0 && localtime_r(&at, &tm)) strftime(when, sizeof when, "%H:%M:%S", &tm);
        fprintf(out, "  %s %s %s: %.100s\n", when, str(e, "job", "?"), str(e, "kind", "?"),
                str(e, "message", ""));
    }
    if (nerr == 0) fprintf(out, "  none\n");
}

/* Where the engine of conf listens; -1 (said on stderr) when it names no port. */
static int engine_address(const conf_t *conf, char *host, size_t hostlen, int *port, char *where,
                          size_t wherelen) {
    if (http_parse_listen(conf->http_listen, host, hostlen, port) < 0 || *port == 0) {
        fprintf(stderr, "baton: http.listen '%s' names no port to reach the engine on\n",
                conf->http_listen);
        return -1;
    }
    if (!host[0] || strcmp(host, "0.0.0.0") == 0) snprintf(host, hostlen, "127.0.0.1");
    snprintf(where, wherelen, "%s:%d", host, *port);
    return 0;
}

/* Why no engine answered, for "no engine answers at HOST:PORT: ...". */
static const char *why(int rc) {
    if (rc == -ECONNREFUSED) return "cannot connect (is it running, and listening there?)";
    if (rc == -ETIMEDOUT) return "no answer in time";
    return strerror(-rc);
}

int status_print(const conf_t *conf, FILE *out) {
    char host[256], where[300];
    int port, status = 0;
    char *body = NULL;
    if (engine_address(conf, host, sizeof host, &port, where, sizeof where) < 0) return 3;
    int rc = status_http_get(host, port, "/api/system/health", TIMEOUT_MS, &status, &body);
    if (rc < 0) {
        fprintf(stderr, "baton: no engine answers at %s: %s\n", where, why(rc));
        return 3;
    }
    cJSON *doc = status == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    if (!cJSON_IsObject(doc)) {
        fprintf(stderr, "baton: %s answered HTTP %d without a health report (is it baton?)\n",
                where, status);
        cJSON_Delete(doc);
        return 3;
    }
    print_summary(doc, out, where);
    cJSON_Delete(doc);
    return 0;
}

int status_reload(const conf_t *conf, FILE *out) {
    char host[256], where[300];
    int port, status = 0;
    char *body = NULL;
    if (engine_address(conf, host, sizeof host, &port, where, sizeof where) < 0) return 3;
    int rc = status_http_call("POST", host, port, "/api/reload", conf->http_token,
                              RELOAD_TIMEOUT_MS, &status, &body);
    if (rc < 0) {
        fprintf(stderr, "baton: no engine answers at %s: %s\n", where, why(rc));
        return 3;
    }
    cJSON *doc = cJSON_Parse(body);
    free(body);
    if (!cJSON_IsObject(doc)) {
        fprintf(stderr, "baton: %s answered HTTP %d without JSON (is it baton?)\n", where, status);
        cJSON_Delete(doc);
        return 3;
    }
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(doc, "errors"), *e;
    cJSON_ArrayForEach(e, errors) if (cJSON_IsString(e)) fprintf(stderr, "%s\n", e->valuestring);
    if (status == 401 || status == 403) {
        fprintf(stderr, "baton: %s refused the reload: %s\n", where, str(doc, "error", "?"));
        cJSON_Delete(doc);
        return 1;
    }
    if (status != 200) {
        fprintf(stderr, "baton: reload refused: %s\n", str(doc, "error", "?"));
        cJSON_Delete(doc);
        return 1;
    }
    int failed = (int)num(doc, "failed", 0);
    if (num(doc, "loaded", 0) == 0 && num(doc, "removed", 0) == 0 && failed)
        fprintf(out, "nothing reloaded: %d script(s) failed to load", failed);
    else if (num(doc, "loaded", 0) == 0 && num(doc, "removed", 0) == 0)
        fprintf(out, "no script changed");
    else
        fprintf(out, "reloaded: %d script(s) loaded, %d removed, %d unchanged",
                (int)num(doc, "loaded", 0), (int)num(doc, "removed", 0),
                (int)num(doc, "unchanged", 0));
    if (failed && (num(doc, "loaded", 0) > 0 || num(doc, "removed", 0) > 0))
        fprintf(out, ", %d failed (a previous version, if any, keeps running)", failed);
    fprintf(out, "; %d job(s)\n", (int)num(doc, "jobs", 0));
    cJSON_Delete(doc);
    return failed ? 1 : 0;
}
