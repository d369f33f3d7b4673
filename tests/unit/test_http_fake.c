/* test_http_fake.c — baton test's fake HTTP transport on its own: the most
 * specific fixture answers (exact, longest prefix, a method beats any), a
 * later serve replaces, answers come from timers on the virtual clock after
 * their delay, timeouts and max_bytes, error fixtures, HEAD, cancelling, the
 * record of requests, and requests no fixture answers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_fake.h"
#include "test.h"

typedef struct answer {
    int calls;
    httpc_outcome_t outcome;
    long status;
    char body[256];
    char first_header[128]; /* "name=value" of the first header */
    char error[160];
    double at, ms;
    vclock_t *clock;
} answer_t;

static void on_done(void *ud, const httpc_result_t *res) {
    answer_t *a = ud;
    a->calls++;
    a->outcome = res->outcome;
    a->status = res->status;
    snprintf(a->body, sizeof a->body, "%.*s", (int)res->len, res->body);
    a->first_header[0] = 0;
    if (res->nheaders)
        snprintf(a->first_header, sizeof a->first_header, "%s=%s", res->headers[0].name,
                 res->headers[0].value);
    snprintf(a->error, sizeof a->error, "%s", res->error);
    a->at = vclock_now(a->clock);
    a->ms = res->ms;
}

typedef struct fx {
    vclock_t clock;
    http_fake_t *f;
} fx_t;

static void fx_init(fx_t *x, double timeout, size_t max_bytes) {
    vclock_init(&x->clock, NULL, 1, 1000);
    CHECK_INT(http_fake_new(&x->f, &x->clock, timeout, max_bytes), 0);
}

static void fx_free(fx_t *x) {
    http_fake_free(x->f);
    vclock_close(&x->clock);
}

static void serve(fx_t *x, const char *pattern, const char *method, int status, const char *body) {
    http_fixture_t fx = {.method = method,
                         .status = status,
                         .body = body,
                         .body_len = body ? strlen(body) : 0,
                         .delay = -1};
    char err[128];
    CHECK_INT(http_fake_serve(x->f, pattern, &fx, err, sizeof err), 0);
}

/* Requests method url and runs the clock until well after any answer. */
static int ask(fx_t *x, const char *method, const char *url, answer_t *a) {
    httpc_opts_t o = {.method = method, .url = url};
    http_fake_req_t *r;
    char err[sizeof a->error];
    memset(a, 0, sizeof *a);
    a->clock = &x->clock;
    http_fake_who_t who = {"job", 7};
    int rc = http_fake_request(x->f, &o, &who, on_done, a, &r, err, sizeof err);
    if (rc < 0) snprintf(a->error, sizeof a->error, "%s", err);
    vclock_advance(&x->clock, vclock_now(&x->clock) + 3600);
    return rc;
}

TEST(http_fake_the_most_specific_fixture_answers) {
    fx_t x;
    fx_init(&x, 30, 0);
    answer_t a;
    serve(&x, "*", NULL, 200, "all");
    serve(&x, "https://a.test/*", NULL, 200, "site");
    serve(&x, "https://a.test/v1/*", NULL, 200, "v1");
    serve(&x, "https://a.test/v1/me", NULL, 200, "me");
    serve(&x, "https://a.test/v1/*", "POST", 200, "v1 post");
    CHECK_INT(ask(&x, "GET", "https://b.test/", &a), 0);
    CHECK_STR(a.body, "all");
    ask(&x, "GET", "https://a.test/v2", &a);
    CHECK_STR(a.body, "site");
    ask(&x, "GET", "https://a.test/v1/x", &a);
    CHECK_STR(a.body, "v1");
    ask(&x, "POST", "https://a.test/v1/x", &a);
    CHECK_STR(a.body, "v1 post");
    ask(&x, "POST", "https://a.test/v1/me", &a);
    CHECK_STR(a.body, "me"); /* exact beats a prefix with a method */
    serve(&x, "https://a.test/v1/me", NULL, 404, "again");
    ask(&x, "GET", "https://a.test/v1/me", &a);
    CHECK_STR(a.body, "again");
    CHECK_INT(a.status, 404);
    CHECK_INT(a.outcome, HTTPC_OK);
    fx_free(&x);
}

TEST(http_fake_answers_after_the_delay_on_the_virtual_clock) {
    fx_t x;
    fx_init(&x, 30, 0);
    const char *heads[] = {"X-Id", "7"};
    http_fixture_t fx = {
        .status = 201, .headers = heads, .nheaders = 1, .body = "b", .body_len = 1, .delay = 20};
    char err[128];
    CHECK_INT(http_fake_serve(x.f, "https://a.test/", &fx, err, sizeof err), 0);
    httpc_opts_t o = {.method = "GET", .url = "https://a.test/"};
    http_fake_req_t *r;
    answer_t a = {.clock = &x.clock};
    CHECK_INT(http_fake_request(x.f, &o, NULL, on_done, &a, &r, err, sizeof err), 0);
    CHECK_INT(a.calls, 0); /* never from inside the call */
    vclock_advance(&x.clock, 1019);
    CHECK_INT(a.calls, 0);
    vclock_advance(&x.clock, 1021);
    CHECK_INT(a.calls, 1);
    CHECK_NUM(a.at, 1020);
    CHECK_NUM(a.ms, 20000);
    CHECK_STR(a.first_header, "x-id=7"); /* names in lower case, as the client's */
    /* a request timeout shorter than the delay */
    o.timeout = 5;
    memset(&a, 0, sizeof a);
    a.clock = &x.clock;
    CHECK_INT(http_fake_request(x.f, &o, NULL, on_done, &a, &r, err, sizeof err), 0);
    vclock_advance(&x.clock, 1100);
    CHECK_INT(a.outcome, HTTPC_TIMEOUT);
    CHECK_NUM(a.at, 1026);
    CHECK_HAS(a.error, "no answer within 5s");
    /* the default timeout, and a cancel */
    o.timeout = 0;
    fx.delay = 40;
    CHECK_INT(http_fake_serve(x.f, "https://a.test/", &fx, err, sizeof err), 0);
    memset(&a, 0, sizeof a);
    a.clock = &x.clock;
    CHECK_INT(http_fake_request(x.f, &o, NULL, on_done, &a, &r, err, sizeof err), 0);
    vclock_advance(&x.clock, 1200);
    CHECK_INT(a.outcome, HTTPC_TIMEOUT);
    CHECK_NUM(a.at, 1130);
    memset(&a, 0, sizeof a);
    CHECK_INT(http_fake_request(x.f, &o, NULL, on_done, &a, &r, err, sizeof err), 0);
    http_fake_cancel(x.f, r);
    vclock_advance(&x.clock, 1300);
    CHECK_INT(a.calls, 0);
    /* one left pending is freed with the fake */
    CHECK_INT(http_fake_request(x.f, &o, NULL, on_done, &a, &r, err, sizeof err), 0);
    fx_free(&x);
}

TEST(http_fake_errors_limits_and_head) {
    fx_t x;
    fx_init(&x, 30, 4);
    answer_t a;
    http_fixture_t fx = {.status = 200, .delay = -1, .error = HTTPC_NETWORK};
    char err[128];
    CHECK_INT(http_fake_serve(x.f, "https://a.test/net", &fx, err, sizeof err), 0);
    fx.error = HTTPC_TIMEOUT;
    CHECK_INT(http_fake_serve(x.f, "https://a.test/slow", &fx, err, sizeof err), 0);
    serve(&x, "https://a.test/big", NULL, 200, "12345");
    ask(&x, "GET", "https://a.test/net", &a);
    CHECK_INT(a.outcome, HTTPC_NETWORK);
    CHECK_HAS(a.error, "error = \"network\"");
    double t0 = vclock_now(&x.clock);
    httpc_opts_t o = {.method = "GET", .url = "https://a.test/slow"};
    http_fake_req_t *r;
    memset(&a, 0, sizeof a);
    a.clock = &x.clock;
    CHECK_INT(http_fake_request(x.f, &o, NULL, on_done, &a, &r, err, sizeof err), 0);
    vclock_advance(&x.clock, t0 + 100);
    CHECK_INT(a.outcome, HTTPC_TIMEOUT);
    CHECK_NUM(a.at, t0 + 30); /* no delay: at the request's timeout */
    ask(&x, "GET", "https://a.test/big", &a);
    CHECK_INT(a.outcome, HTTPC_LIMIT);
    CHECK_HAS(a.error, "max_bytes (4 bytes)");
    ask(&x, "HEAD", "https://a.test/big", &a);
    CHECK_INT(a.outcome, HTTPC_OK);
    CHECK_STR(a.body, "");
    fx_free(&x);
}

TEST(http_fake_records_requests_and_counts_the_unanswered) {
    fx_t x;
    fx_init(&x, 30, 0);
    serve(&x, "https://a.test/*", NULL, 200, "ok");
    const char *lines[] = {"Authorization: Bearer k", "Content-Type:application/json"};
    httpc_opts_t o = {.method = "POST",
                      .url = "https://a.test/p",
                      .headers = lines,
                      .nheaders = 2,
                      .body = "{}",
                      .body_len = 2};
    http_fake_req_t *r;
    char err[256];
    answer_t posted = {.clock = &x.clock}, a;
    http_fake_who_t who = {"poster", 42};
    CHECK_INT(http_fake_request(x.f, &o, &who, on_done, &posted, &r, err, sizeof err), 0);
    CHECK_INT(ask(&x, "GET", "https://b.test/x", &a), -ENOENT);
    CHECK_STR(a.error, "no t.http fixture for GET https://b.test/x");
    ask(&x, "DELETE", "https://b.test/y", &a);
    const char *first;
    CHECK_INT(http_fake_unanswered(x.f, &first), 2);
    CHECK_STR(first, "GET https://b.test/x");
    CHECK_INT(http_fake_ncalls(x.f), 3);
    const http_fake_call_t *c = http_fake_call(x.f, 0);
    CHECK_STR(c->method, "POST");
    CHECK_STR(c->url, "https://a.test/p");
    CHECK_STR(c->job, "poster");
    CHECK_INT(c->run_id, 42);
    CHECK_NUM(c->at, 1000);
    CHECK_STR(c->heads, "Authorization");
    CHECK_STR(c->heads + strlen("Authorization") + 1, "Bearer k");
    CHECK(c->body && c->body_len == 2 && memcmp(c->body, "{}", 2) == 0);
    CHECK(http_fake_call(x.f, 1)->body == NULL);
    CHECK(http_fake_call(x.f, 3) == NULL);
    /* a URL the client would refuse */
    o.url = "ftp://a.test/";
    CHECK_INT(http_fake_request(x.f, &o, &who, on_done, &a, &r, err, sizeof err), -EINVAL);
    fx_free(&x);
}
